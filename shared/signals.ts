// Graceful shutdown on SIGINT/SIGTERM; a second signal while stopping must not cut the cleanup short.
export function waitForShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let first: NodeJS.Signals | undefined;
    const onSignal = (s: NodeJS.Signals): void => {
      if (first) return; // already stopping: Ctrl-C reaches the whole process group more than once
      first = s;
      resolve(s);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
