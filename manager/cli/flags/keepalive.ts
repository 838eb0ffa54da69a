// The --keepalive flag of `fleet node update`: a duration in whole seconds that MQTT 3.1.1 can carry.
import { MAX_KEEPALIVE_S } from '../../../shared/link-profile.js';
import { invalid } from '../usage.js';
import { durationFlag } from './values.js';

/** Seconds (0: back to the default); refuses what is not a whole second, or over 18 h 12 min. */
export function keepaliveSeconds(text: string): number {
  if (String(text).trim() === '0') return 0;
  const ms = durationFlag('keepalive', text);
  if (ms % 1000 !== 0 || ms < 1000 || ms > MAX_KEEPALIVE_S * 1000)
    throw invalid('keepalive', String(text), `whole seconds from 1s to ${MAX_KEEPALIVE_S}s, or 0`);
  return ms / 1000;
}
