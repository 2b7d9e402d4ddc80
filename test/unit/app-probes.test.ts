// REALIP_APP_PROBES: the path builder and the validator shared by webhook and sidecar, and the
// sidecar option that reads it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appHealthPath, checkAppProbe, Env, parseAppProbes } from '../../common/contract.ts';
import { ConfigError } from '../../common/errors.ts';
import { probeHeaders } from '../../sidecar/app-probe.ts';
import { parseSidecarConfig } from '../../sidecar/config.ts';

const http = (extra: Record<string, unknown> = {}) => ({
  httpGet: { port: 8080, path: '/healthz', scheme: 'HTTP', ...extra },
  timeoutSeconds: 1,
});

test('paths name the container and the probe kind', () => {
  assert.equal(appHealthPath('web', 'livenessProbe'), '/app-health/web/livez');
  assert.equal(appHealthPath('web', 'readinessProbe'), '/app-health/web/readyz');
  assert.equal(appHealthPath('my-db-0', 'startupProbe'), '/app-health/my-db-0/startupz');
});

test('a valid value parses into path -> probe; empty means none', () => {
  const value = {
    '/app-health/web/livez': http({ httpHeaders: [{ name: 'X-A', value: 'b c' }] }),
    '/app-health/db/readyz': { tcpSocket: { port: 5432 }, timeoutSeconds: 3 },
  };
  const { probes, problems } = parseAppProbes(JSON.stringify(value));
  assert.deepEqual(problems, []);
  assert.deepEqual(Object.fromEntries(probes), value);
  assert.equal(parseAppProbes('').probes.size, 0);
  assert.equal(parseAppProbes('  ').problems.length, 0);
});

test('every problem is reported, with its path and field; nothing is half-accepted', () => {
  const { probes, problems } = parseAppProbes(
    JSON.stringify({
      '/app-health/ok/livez': http(),
      '/app-health/http/8080/healthz': http(),
      '/app-health/Web/livez': http(),
      '/app-health/a/livez': http({ port: 0, path: 'no-slash', scheme: 'HTTPS' }),
      '/app-health/b/livez': http({ path: '/a b', httpHeaders: [{ name: 'X', value: 'a\r\nB: c' }, 'x'] }),
      '/app-health/c/livez': { ...http(), timeoutSeconds: 0 },
      '/app-health/d/livez': { ...http(), tcpSocket: { port: 1 } },
      '/app-health/e/livez': { tcpSocket: { port: 1, host: 'evil' }, timeoutSeconds: 1 },
      '/app-health/f/livez': { exec: { command: ['x'] }, timeoutSeconds: 1 },
    }).replace(/^\{/, `{"__proto__": ${JSON.stringify(http())},`),
  );
  assert.equal(probes.size, 0);
  for (const expected of [
    /"\/app-health\/http\/8080\/healthz": expected \/app-health\/<container>/,
    /"\/app-health\/Web\/livez": expected/,
    /a\/livez"\.httpGet\.port: expected a port/,
    /a\/livez"\.httpGet\.path: expected "\/"/,
    /a\/livez"\.httpGet\.scheme: expected "HTTP"/,
    /b\/livez"\.httpGet\.path/,
    /b\/livez"\.httpGet\.httpHeaders\[0\]\.value: expected a string without control characters/,
    /b\/livez"\.httpGet\.httpHeaders\[1\]: expected \{name, value\}/,
    /c\/livez"\.timeoutSeconds: expected an integer/,
    /d\/livez": expected exactly one of httpGet, tcpSocket/,
    /e\/livez"\.tcpSocket: unknown field "host"/,
    /f\/livez": expected exactly one of httpGet, tcpSocket/,
    /"__proto__": expected/,
  ]) {
    assert.ok(
      problems.some((p) => expected.test(p)),
      `${expected} in:\n${problems.join('\n')}`,
    );
  }
  assert.ok(!problems.some((p) => p.startsWith('"/app-health/ok/livez"')));
  assert.match(parseAppProbes('[1]').problems[0]!, /expected a JSON object/);
  assert.match(parseAppProbes('{').problems[0]!, /^not JSON/);
  assert.deepEqual(checkAppProbe('/app-health/ok/readyz', http()), []);
});

test('the sidecar option: env and flag, a bad value is a configuration error', () => {
  const good = JSON.stringify({ '/app-health/web/livez': http() });
  const fromEnv = parseSidecarConfig(['--listener', 'http:15001:8080'], { [Env.appProbes]: good });
  assert.deepEqual([...fromEnv.config.appProbes.keys()], ['/app-health/web/livez']);
  const fromFlag = parseSidecarConfig(['--listener', 'http:15001:8080', '--app-probes', good], {});
  assert.equal(fromFlag.config.appProbes.size, 1);
  assert.equal(parseSidecarConfig(['--listener', 'http:15001:8080'], {}).config.appProbes.size, 0);
  assert.throws(
    () => parseSidecarConfig(['--listener', 'http:15001:8080'], { [Env.appProbes]: '{"/x": 1}' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.problems.some((p) => p.startsWith(`--app-probes / ${Env.appProbes}: "/x": expected`)),
  );
});

test("probe headers: kubelet's defaults, the probe's own values win, repeated names kept", () => {
  const base = { httpGet: { port: 8080, path: '/', scheme: 'HTTP' as const }, timeoutSeconds: 1 };
  assert.deepEqual(probeHeaders(base, '127.0.0.1'), {
    host: '127.0.0.1:8080',
    'user-agent': 'kube-probe/realip',
    accept: '*/*',
  });
  assert.equal(probeHeaders(base, '::1').host, '[::1]:8080');
  const custom = {
    ...base,
    httpGet: {
      ...base.httpGet,
      httpHeaders: [
        { name: 'Host', value: 'app.example' },
        { name: 'User-Agent', value: 'mine' },
        { name: 'X-A', value: '1' },
        { name: 'x-a', value: '2' },
      ],
    },
  };
  assert.deepEqual(probeHeaders(custom, '127.0.0.1'), {
    host: 'app.example',
    'user-agent': 'mine',
    'x-a': ['1', '2'],
    accept: '*/*',
  });
});
