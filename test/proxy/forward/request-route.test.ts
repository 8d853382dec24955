/** Where forward-mode requests go (pure): tunnel requests to the CONNECT target, absolute-form to the named host. */
import { describe, expect, it } from 'vitest';
import { httpUrl, routeRequest, type Route } from '../../../src/proxy/forward/request-route.js';
import { parseConnectTarget } from '../../../src/proxy/forward/connect-target.js';

const summary = (r: Route | string) => (typeof r === 'string' ? r : { url: httpUrl(r), tls: r.upstream.tls, sni: r.upstream.servername, absolute: r.absolute });

describe('routeRequest', () => {
  it('inside an intercepted tunnel: https to the CONNECT host and port, the path byte for byte', () => {
    const tunnel = { target: parseConnectTarget('app.example.test:8443')!, tls: true, client: '127.0.0.1:1' };
    expect(summary(routeRequest('/a//b?x=%2F', tunnel))).toEqual({ url: 'https://app.example.test:8443/a//b?x=%2F', tls: true, sni: 'app.example.test', absolute: false });
    expect(routeRequest('http://other.test/', tunnel)).toMatch(/origin-form/);
  });

  it('inside a plain tunnel to an IP: http, no SNI', () => {
    const tunnel = { target: parseConnectTarget('[::1]:80')!, tls: false, client: '127.0.0.1:1' };
    expect(summary(routeRequest('/live', tunnel))).toEqual({ url: 'http://[::1]/live', tls: false, sni: null, absolute: false });
  });

  it('absolute-form: the named host (http, https, ws, wss), default ports left out, path kept', () => {
    expect(summary(routeRequest('http://Example.test:8080/p?q', undefined))).toEqual({ url: 'http://example.test:8080/p?q', tls: false, sni: 'example.test', absolute: true });
    expect(summary(routeRequest('https://example.test', undefined))).toEqual({ url: 'https://example.test/', tls: true, sni: 'example.test', absolute: true });
    expect(summary(routeRequest('ws://127.0.0.1:9/x', undefined))).toMatchObject({ url: 'http://127.0.0.1:9/x', sni: null });
    expect(summary(routeRequest('http://h.test?x=1', undefined))).toMatchObject({ url: 'http://h.test/?x=1' });
  });

  it('refuses origin-form outside a tunnel, user info, other schemes, bad hosts', () => {
    for (const bad of ['/index.html', 'http://user:pw@h.test/', 'ftp://h.test/', 'http://[nope/', '*', 'h.test:443']) {
      expect(typeof routeRequest(bad, undefined), bad).toBe('string');
    }
  });
});
