// The leader-only parts that keep cluster events: the log that writes them and the recorder that finds them.
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import type { LeaderPart } from '../leader/controller.js';
import type { Propose, StoreView } from '../store/view.js';
import { EventLog, type EventWindow } from './log.js';
import { EventRecorder } from './recorder.js';

export interface EventPartsDeps {
  store: StoreView;
  propose: Propose;
  clock: Clock;
  logger: Logger;
  self: string;
  window?: EventWindow;
}

/** The log first (so it numbers from the stored events), then the recorder feeding it. */
export function eventParts(deps: EventPartsDeps): LeaderPart[] {
  const log = new EventLog(deps);
  const recorder = new EventRecorder({ ...deps, record: (e) => log.record(e) });
  return [log, recorder];
}
