// `realip webhook` / `realip inject` configuration: pinned names, precedence, every problem at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../common/errors.ts';
import { parseInjectConfig, parseWebhookConfig, resolveDefaults } from '../../webhook/config.ts';

const files = { REALIP_TLS_CERT_FILE: '/tls/tls.crt', REALIP_TLS_KEY_FILE: '/tls/tls.key' };

test('defaults: port 8443, metrics 9090, files mode from cert/key, redirect, auto native, required PROXY', () => {
  const { config } = parseWebhookConfig([], files);
  assert.equal(config.port, 8443);
  assert.equal(config.metricsPort, 9090);
  assert.deepEqual(config.tls, {
    mode: 'files',
    certFile: '/tls/tls.crt',
    keyFile: '/tls/tls.key',
    pollIntervalMs: 5000,
  });
  assert.equal(config.injection.steering, 'redirect');
  assert.equal(config.injection.nativeSidecar, 'auto');
  assert.equal(config.injection.proxy, 'required');
  assert.deepEqual(config.injection.trustedCidrs, []);
  // Issue 13, deliberately changed (was 10m / 32Mi / 128Mi, below the measured RSS at 1,000
  // connections): the measured figures, see webhook/config-schema.ts.
  assert.deepEqual(config.injection.resources, {
    cpuRequest: '50m',
    memoryRequest: '96Mi',
    memoryLimit: '256Mi',
  });
  assert.equal(config.injection.listenerPortBase, 15001);
  assert.equal(config.injection.adminPort, 15021);
  assert.equal(config.injection.sidecarUid, 1337);
  assert.deepEqual(config.injection.redirectFrom, [], 'empty: the trusted CIDRs');
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.injection));
});

test('sidecar ports and uid are options; uid 0 and bad ports are refused', () => {
  const { config } = parseWebhookConfig(
    ['--listener-port-base', '16001', '--sidecar-admin-port', '16021', '--sidecar-uid', '2000'],
    files,
  );
  assert.equal(config.injection.listenerPortBase, 16001);
  assert.equal(config.injection.adminPort, 16021);
  assert.equal(config.injection.sidecarUid, 2000);
  assert.throws(
    () => parseWebhookConfig(['--sidecar-uid', '0', '--sidecar-admin-port', '70000'], files),
    (err: Error) =>
      /--sidecar-uid.*must not be 0/.test(err.message) && /sidecar-admin-port/.test(err.message),
  );
});

test('the pinned environment variables (the chart sets these)', () => {
  const { config } = parseWebhookConfig([], {
    REALIP_WEBHOOK_PORT: '9443',
    REALIP_METRICS_PORT: '9091',
    REALIP_TLS_MODE: 'self-managed',
    REALIP_TLS_SECRET_NAME: 'realip-webhook-tls',
    REALIP_WEBHOOK_NAMESPACE: 'realip-system',
    REALIP_WEBHOOK_SERVICE_NAME: 'realip-webhook',
    REALIP_WEBHOOK_CONFIG_NAME: 'realip',
    REALIP_TLS_EXTRA_SANS: '127.0.0.1, localhost',
    REALIP_SIDECAR_IMAGE: 'r/s:1',
    REALIP_SIDECAR_IMAGE_PULL_POLICY: 'Always',
    REALIP_TRUSTED_CIDRS: '10.0.0.0/8,fd00::/8',
    REALIP_PROXY: 'optional',
    REALIP_STEERING: 'port',
    REALIP_NATIVE_SIDECAR: 'off',
    REALIP_SIDECAR_CPU_REQUEST: '20m',
    REALIP_SIDECAR_MEMORY_REQUEST: '40Mi',
    REALIP_SIDECAR_CPU_LIMIT: '1',
    REALIP_SIDECAR_MEMORY_LIMIT: 'none',
  });
  assert.equal(config.port, 9443);
  assert.equal(config.metricsPort, 9091);
  assert.deepEqual(config.tls, {
    mode: 'self-managed',
    secretName: 'realip-webhook-tls',
    namespace: 'realip-system',
    serviceName: 'realip-webhook',
    webhookConfigName: 'realip',
    extraSans: ['127.0.0.1', 'localhost'],
  });
  const d = resolveDefaults(config.injection, { nativeSidecar: true, nativeSidecarNamedPorts: true });
  assert.equal(d.nativeSidecar, false, 'off wins over what the server supports');
  assert.equal(d.image, 'r/s:1');
  assert.equal(d.imagePullPolicy, 'Always');
  assert.deepEqual(d.trustedCidrs, ['10.0.0.0/8', 'fd00::/8']);
  assert.equal(d.proxy, 'optional');
  assert.equal(d.steering, 'port');
  assert.deepEqual(d.resources, { cpuRequest: '20m', memoryRequest: '40Mi', cpuLimit: '1' });
});

test('auto resolves to what the API server supports', () => {
  const { config } = parseWebhookConfig([], files);
  const v131 = resolveDefaults(config.injection, { nativeSidecar: true, nativeSidecarNamedPorts: false });
  assert.equal(v131.nativeSidecar, true);
  assert.equal(v131.nativeSidecarNamedPorts, false);
  const v128 = resolveDefaults(config.injection, { nativeSidecar: false, nativeSidecarNamedPorts: false });
  assert.equal(v128.nativeSidecar, false);
});

test('flag > env > config file > default', () => {
  const file =
    'proxy: optional\nsteering: port\ntrusted-cidrs: [192.0.2.0/24, 198.51.100.0/24]\nsidecar-image: from/file:1\nport: 7443\n';
  const read = (p: string) => {
    assert.equal(p, '/etc/realip/config.yaml');
    return file;
  };
  const { config } = parseWebhookConfig(
    ['--config-file', '/etc/realip/config.yaml', '--steering', 'redirect'],
    { ...files, REALIP_PROXY: 'required' },
    read,
  );
  assert.equal(config.injection.steering, 'redirect', 'flag wins');
  assert.equal(config.injection.proxy, 'required', 'env wins over file');
  assert.deepEqual(config.injection.trustedCidrs, ['192.0.2.0/24', '198.51.100.0/24'], 'file list');
  assert.equal(config.injection.image, 'from/file:1');
  assert.equal(config.port, 7443);
});

test('every problem is reported at once, naming flag, variable and value', () => {
  try {
    parseWebhookConfig(
      [
        '--port',
        '70000',
        '--proxy',
        'maybe',
        '--trusted-cidrs',
        '10.0.0.0/40,::ffff:10.0.0.5/32,10.0.0.1/8',
        '--sidecar-cpu-limit',
        'lots',
        '--bogus',
      ],
      { REALIP_TLS_MODE: 'self-managed', REALIP_NATIVE_SIDECAR: 'sometimes' },
    );
    assert.fail('expected ConfigError');
  } catch (err: unknown) {
    assert.ok(err instanceof ConfigError);
    const text = err.problems.join('\n');
    assert.match(text, /--port \/ REALIP_WEBHOOK_PORT = "70000"/);
    assert.match(text, /--proxy \/ REALIP_PROXY = "maybe"/);
    assert.match(text, /--trusted-cidrs \/ REALIP_TRUSTED_CIDRS: "10\.0\.0\.0\/40"/);
    assert.match(
      text,
      /--trusted-cidrs \/ REALIP_TRUSTED_CIDRS: "::ffff:10\.0\.0\.5\/32" is an IPv4-mapped address/,
    );
    assert.match(
      text,
      /--trusted-cidrs \/ REALIP_TRUSTED_CIDRS: "10\.0\.0\.1\/8" has host bits set; did you mean 10\.0\.0\.0\/8\?/,
    );
    assert.match(text, /--sidecar-cpu-limit \/ REALIP_SIDECAR_CPU_LIMIT = "lots"/);
    assert.match(text, /--native-sidecar \/ REALIP_NATIVE_SIDECAR = "sometimes"/);
    assert.match(text, /unknown option "--bogus"/);
    for (const name of ['tls-secret-name', 'namespace', 'service-name', 'webhook-config-name']) {
      assert.match(text, new RegExp(`--${name} / REALIP_\\w+: required in self-managed TLS mode`));
    }
  }
});

test('no TLS source at all is a problem', () => {
  assert.throws(
    () => parseWebhookConfig([], {}),
    /give --tls-cert-file and --tls-key-file, or --tls-mode self-managed/,
  );
});

test('a bad config file is named with the key', () => {
  assert.throws(
    () => parseWebhookConfig(['--config-file', 'x.yaml'], files, () => 'unknown-key: 1\nsteering: {a: b}\n'),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.problems.some((p) => p.includes('unknown key "unknown-key"')) &&
      err.problems.some((p) => p.includes('key "steering": expected a string')),
  );
});

test('realip inject takes -f or a positional, and the same injection options', () => {
  assert.equal(parseInjectConfig(['-f', 'a.yaml'], {}).config.file, 'a.yaml');
  assert.equal(parseInjectConfig(['-'], {}).config.file, '-');
  assert.equal(parseInjectConfig(['-f', '-', '--steering', 'port'], {}).config.injection.steering, 'port');
  assert.throws(() => parseInjectConfig([], {}), /-f \/ --filename: required/);
});
