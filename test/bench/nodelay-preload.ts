// Experiment preload (--import): turns on TCP_NODELAY for every TLS connection this process opens.
import tls from 'node:tls';

const connect = tls.connect.bind(tls) as (...args: unknown[]) => tls.TLSSocket;
// Only a measurement aid: shows what the outgoing MQTT connections cost with Nagle's algorithm on.
(tls as { connect: (...args: unknown[]) => tls.TLSSocket }).connect = (...args: unknown[]) => {
  const socket = connect(...args);
  socket.setNoDelay(true);
  return socket;
};
