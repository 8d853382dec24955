/**
 * What the gate (issue 13) decides about an upgrade before and after it is dialled, the same in
 * reverse and forward mode: frametap may answer the request itself (a held upgrade request, a
 * script's onHandshake, `refuse=STATUS`), and the relay gets the connection's gate.
 */
import http from 'node:http';
import type net from 'node:net';
import type { ConnectionSetup, GateSetup } from '../gate/gate-setup.js';
import type { ConnectionContext } from '../gate/policy.js';
import type { RawHeaders } from '../session/events.js';
import type { Session } from '../session/session.js';
import type { UpgradeConnectionOptions } from './connection.js';
import { writeStatus } from './refusal.js';

/**
 * Calls `dial` unless frametap answers the upgrade itself; then the client gets that answer, the
 * session its `handshake` (marked `byFrametap`) and `refuse` intercept, and nothing is dialled.
 */
export function decideUpgrade(
  gate: GateSetup,
  ctx: ConnectionContext,
  connectionGate: ConnectionSetup,
  req: http.IncomingMessage,
  socket: net.Socket,
  session: Session,
  requestHeaders: RawHeaders,
  dial: () => void,
): void {
  if (!gate.mayRefuse) return dial();
  const request = { method: req.method ?? 'GET', target: req.url ?? '/', httpVersion: req.httpVersion, headers: requestHeaders };
  const leftEarly = (): void => gate.handshakeHolder?.cancel(ctx.conn);
  socket.once('close', leftEarly);
  void gate.refusal(ctx, requestHeaders, connectionGate.faults, (g) => session.intercept(g, 'client')).then((refusal) => {
    socket.off('close', leftEarly);
    if (socket.destroyed) {
      // The client left while frametap was deciding (a held upgrade request): nothing was dialled.
      session.handshake({ request, response: null });
      void session.finish();
      return;
    }
    if (refusal === null) return dial();
    const reason = http.STATUS_CODES[refusal.status] ?? 'Refused';
    const body = refusal.body || `frametap: refused (${refusal.actor.by}${refusal.actor.name ? ` ${refusal.actor.name}` : ''})\n`;
    session.handshake({
      request,
      response: {
        status: refusal.status,
        reason,
        httpVersion: '1.1',
        headers: [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(Buffer.byteLength(body))], ['Connection', 'close']],
        byFrametap: true,
      },
    });
    session.intercept({ from: 'client', action: 'refuse', by: refusal.actor.by, ...(refusal.actor.name ? { name: refusal.actor.name } : {}), detail: `${refusal.status} ${reason}` }, 'client');
    writeStatus(socket, refusal.status, reason, body);
    void session.finish();
  });
}

/** UpgradeConnection's `gate` option for one connection: its policy, and its registration for the dashboard. */
export function upgradeGateOption(gate: GateSetup, ctx: ConnectionContext, connectionGate: ConnectionSetup): NonNullable<UpgradeConnectionOptions['gate']> {
  return {
    setup: connectionGate,
    holdTimeoutMs: gate.holdTimeoutMs,
    register: (g) => (g ? gate.register(ctx.conn, g) : gate.unregister(ctx.conn)),
    responseHold: () => gate.responseHold(ctx),
  };
}
