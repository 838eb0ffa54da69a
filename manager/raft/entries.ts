// How the store's proposals and the managers' addresses travel inside Raft log entries.
import { z } from 'zod';
import type { Proposal } from '../store/commands.js';

/** A proposal as the data of a 'normal' entry. */
export function proposalToEntry(p: Proposal): string {
  return JSON.stringify(p);
}

/**
 * The proposal in a committed entry. Entries are written by this cluster's leaders only, so a
 * parse failure is corruption: it throws, and the manager stops applying rather than skip it.
 */
export function entryToProposal(data: string): Proposal {
  const p = JSON.parse(data) as Proposal;
  if (!p || !Array.isArray(p.commands)) throw new Error('raft entry is not a proposal');
  return p;
}

const memberContextSchema = z.object({ address: z.string().max(300) });

/** The context of a membership change: where the manager's broker listens. */
export function encodeMemberContext(address: string): string {
  return JSON.stringify({ address });
}

export function decodeMemberContext(context: string | undefined): string {
  if (!context) return '';
  try {
    const r = memberContextSchema.safeParse(JSON.parse(context));
    return r.success ? r.data.address : '';
  } catch {
    return '';
  }
}
