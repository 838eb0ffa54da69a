// What the agent's name server does with a query: answer from the network's names, refuse, or forward; and the host's resolv.conf.
import {
  DNS_CLASS_IN,
  DNS_TYPE,
  RCODE,
  questionName,
  type ARecord,
  type DnsQuery,
  type Rcode,
} from './dns-codec.js';

/**
 * Seconds an answer may be cached. Short: a name's address does not change while its service
 * exists, but a service that left gives its address back and a new one may get it.
 */
export const NAME_TTL_S = 5;

export type Decision = { kind: 'answer'; rcode: Rcode; answers: ARecord[] } | { kind: 'forward' };

/**
 * names: the network's names in lower case, each with its virtual address. searchDomains: the
 * host's search list; a known name with one of them appended (what a resolver tries after the
 * bare name) is no other host's name and gets NXDOMAIN rather than a trip upstream.
 */
export function decide(
  query: DnsQuery,
  names: ReadonlyMap<string, string>,
  searchDomains: readonly string[],
): Decision {
  const q = query.question;
  if (q.class !== DNS_CLASS_IN && q.class !== DNS_TYPE.ANY) return { kind: 'forward' };
  const name = stripDot(questionName(q));
  const address = names.get(name);
  if (address !== undefined) {
    const wantsA = q.type === DNS_TYPE.A || q.type === DNS_TYPE.ANY;
    // AAAA (and any other type) of a known name: the name exists, with no record of that type.
    const answers = wantsA ? [{ address, ttl: NAME_TTL_S }] : [];
    return { kind: 'answer', rcode: RCODE.NOERROR, answers };
  }
  for (const domain of searchDomains) {
    const suffix = `.${domain}`;
    if (name.endsWith(suffix) && names.has(name.slice(0, -suffix.length)))
      return { kind: 'answer', rcode: RCODE.NXDOMAIN, answers: [] };
  }
  return { kind: 'forward' };
}

export interface ResolvConf {
  /** IPv4 name servers, in the order listed. */
  nameservers: string[];
  /** Search domains in lower case, without dots at either end. */
  search: string[];
}

/** Reads resolv.conf(5) text: nameserver lines (IPv4 only), and the last search or domain line. */
export function parseResolvConf(text: string): ResolvConf {
  const nameservers: string[] = [];
  let search: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0] && /^\d{1,3}(\.\d{1,3}){3}$/.test(rest[0]))
      nameservers.push(rest[0]);
    else if (key === 'search' || key === 'domain')
      search = rest.map((d) => stripDot(d.toLowerCase()).replace(/^\./, '')).filter(Boolean);
  }
  return { nameservers, search };
}

/** A name in lower case without its trailing dot: "Web." and "web" are one name. */
export function normaliseName(name: string): string {
  return stripDot(name.toLowerCase());
}

const stripDot = (s: string): string => (s.endsWith('.') ? s.slice(0, -1) : s);
