/**
 * Request fields that some framework, client-IP library or CDN convention reads as the client's
 * address, the scheme, or the host/port/prefix the client used. Behind an L4 edge every one of them
 * came from the client, so the default `replace` policy removes them all (any casing, any number
 * of copies, and the underscore spelling, which CGI-style stacks read as the same field).
 *
 * The list and where each name comes from is in docs/sidecar.md ("Fields removed"); keep the two
 * in step (test/unit/http-forwarding-fields.test.ts checks that every name here is documented).
 */

/** What the hop does with a field, by policy (see rewrite.ts). */
export const F_XFF = 'xff';
export const F_FORWARDED = 'forwarded';
export const F_X_REAL_IP = 'x-real-ip';
export const F_XF_PROTO = 'xf-proto';
export const F_XF_PORT = 'xf-port';
export const F_XF_HOST = 'xf-host';
/** Every other spoofable field: removed by `replace`, passed through by `append`. */
export const F_OTHER = 'other';

export type FieldRole =
  | typeof F_XFF
  | typeof F_FORWARDED
  | typeof F_X_REAL_IP
  | typeof F_XF_PROTO
  | typeof F_XF_PORT
  | typeof F_XF_HOST
  | typeof F_OTHER;

export interface ForwardingField {
  /** Lowercase, with '-' (the underscore spelling matches too). */
  readonly name: string;
  readonly role: FieldRole;
  /** What reads it: the reason it is on the list. */
  readonly readBy: string;
}

export const FORWARDING_FIELDS: readonly ForwardingField[] = [
  // The client's address.
  { name: 'x-forwarded-for', role: F_XFF, readBy: 'de facto standard; every framework' },
  { name: 'forwarded', role: F_FORWARDED, readBy: 'RFC 7239; Spring, Rack, Symfony, gorilla/handlers' },
  {
    name: 'x-real-ip',
    role: F_X_REAL_IP,
    readBy: 'nginx convention; chi, echo, gin, request-ip, django-ipware',
  },
  { name: 'x-client-ip', role: F_OTHER, readBy: 'request-ip (first choice), django-ipware' },
  { name: 'client-ip', role: F_OTHER, readBy: 'Rails RemoteIp, PHP HTTP_CLIENT_IP idiom, django-ipware' },
  { name: 'true-client-ip', role: F_OTHER, readBy: 'Akamai, Cloudflare; request-ip, chi RealIP' },
  { name: 'x-cluster-client-ip', role: F_OTHER, readBy: 'Rackspace; request-ip, django-ipware' },
  { name: 'cf-connecting-ip', role: F_OTHER, readBy: 'Cloudflare; request-ip, gin TrustedPlatform' },
  { name: 'cf-connecting-ipv6', role: F_OTHER, readBy: 'Cloudflare' },
  { name: 'cf-pseudo-ipv4', role: F_OTHER, readBy: 'Cloudflare; request-ip' },
  { name: 'fastly-client-ip', role: F_OTHER, readBy: 'Fastly; request-ip, django-ipware' },
  { name: 'x-forwarded', role: F_OTHER, readBy: 'request-ip, django-ipware' },
  { name: 'forwarded-for', role: F_OTHER, readBy: 'request-ip, django-ipware' },
  { name: 'x-original-forwarded-for', role: F_OTHER, readBy: 'ingress-nginx' },
  { name: 'x-original-for', role: F_OTHER, readBy: 'ASP.NET Core ForwardedHeaders' },
  { name: 'x-appengine-user-ip', role: F_OTHER, readBy: 'Google App Engine; request-ip' },
  { name: 'x-appengine-remote-addr', role: F_OTHER, readBy: 'gin TrustedPlatform (App Engine)' },
  { name: 'fly-client-ip', role: F_OTHER, readBy: 'Fly.io; gin TrustedPlatform' },
  { name: 'x-azure-clientip', role: F_OTHER, readBy: 'Azure Front Door' },
  { name: 'x-azure-socketip', role: F_OTHER, readBy: 'Azure Front Door' },
  { name: 'x-nf-client-connection-ip', role: F_OTHER, readBy: 'Netlify' },
  { name: 'x-vercel-forwarded-for', role: F_OTHER, readBy: 'Vercel' },
  { name: 'proxy-client-ip', role: F_OTHER, readBy: 'WebLogic; common Java getClientIp code' },
  { name: 'wl-proxy-client-ip', role: F_OTHER, readBy: 'WebLogic; common Java getClientIp code' },
  { name: 'x-forwarded-by', role: F_OTHER, readBy: 'Tomcat RemoteIpValve (proxies header)' },
  // The scheme, host, port and path prefix the client used.
  { name: 'x-forwarded-proto', role: F_XF_PROTO, readBy: 'de facto standard; every framework' },
  { name: 'x-forwarded-port', role: F_XF_PORT, readBy: 'Spring, Tomcat, Symfony, Rack' },
  { name: 'x-forwarded-host', role: F_XF_HOST, readBy: 'Spring, Django, Express, Rack, Symfony' },
  { name: 'x-forwarded-ssl', role: F_OTHER, readBy: 'Rack (before X-Forwarded-Proto), Spring, gunicorn' },
  { name: 'x-forwarded-scheme', role: F_OTHER, readBy: 'Rack, gorilla/handlers' },
  { name: 'x-forwarded-protocol', role: F_OTHER, readBy: 'gunicorn secure_scheme_headers' },
  { name: 'x-forwarded-prefix', role: F_OTHER, readBy: 'Spring, Symfony, ASP.NET Core, Traefik' },
  { name: 'x-url-scheme', role: F_OTHER, readBy: 'Rack (HTTP_X_URL_SCHEME), Heroku convention' },
  { name: 'x-scheme', role: F_OTHER, readBy: 'ingress-nginx convention; Werkzeug-era apps' },
  { name: 'front-end-https', role: F_OTHER, readBy: 'Microsoft ARR/OWA; PHP apps (HTTP_FRONT_END_HTTPS)' },
  { name: 'x-arr-ssl', role: F_OTHER, readBy: 'IIS Application Request Routing' },
  { name: 'cf-visitor', role: F_OTHER, readBy: 'Cloudflare ({"scheme":"https"})' },
  { name: 'x-original-host', role: F_OTHER, readBy: 'ASP.NET Core ForwardedHeaders, Azure App Service' },
];
