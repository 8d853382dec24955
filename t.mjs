import tls from 'node:tls';
import https from 'node:https';
import fs from 'node:fs';
const srv = https.createServer({ cert: fs.readFileSync('fixtures/tls/cert.pem'), key: fs.readFileSync('fixtures/tls/key.pem') });
srv.listen(0, '127.0.0.1', () => {
  const s = tls.connect({ port: srv.address().port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
    try { s.resetAndDestroy(); console.log('ok, destroyed', s.destroyed); } catch (e) { console.log('threw', e.code); }
    srv.close(); srv.closeAllConnections();
  });
});
