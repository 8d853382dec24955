/**
 * For the crash-safety test: records endless real ws traffic through the recording relay into the
 * pcapng file named by argv[2], printing "busy" once it runs, until it is killed.
 */
import { EventBus } from '../../src/session/event-bus.js';
import { PcapngWriter } from '../../src/pcap/pcapng-writer.js';
import { RECORDED_TYPES } from '../../src/pcap/pcapng-recorder.js';
import { captureHeader } from '../../src/capture/header.js';
import { startRecordingRelay } from './recording-relay.js';
import { startScenarioServer, talkDeflate } from './scenario.js';

const bus = new EventBus();
const writer = PcapngWriter.prepare(process.argv[2]!).start(captureHeader('reverse', null, null), { maxPayload: 1024 * 1024 });
bus.subscribe('pcapng', (e) => writer.write(e), [...RECORDED_TYPES]);
const server = await startScenarioServer();
const relay = await startRecordingRelay({ upstreamPort: server.port, bus, chunking: (conn) => (conn % 3 === 0 ? 7 : null) });
process.stdout.write('busy\n');
for (;;) await talkDeflate(relay.port);
