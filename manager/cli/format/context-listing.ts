// The columns, template fields and filters of `fleet context ls`.
import type { Context } from '../contexts.js';
import type { Listing } from './listing.js';

export type ContextItem = Context & { name: string; current: boolean };

export const contextListing: Listing<ContextItem> = {
  columns: [
    { header: 'NAME', field: 'Name' },
    { header: 'DESCRIPTION', field: 'Description' },
    { header: 'HOST', field: 'Host' },
    { header: 'IDENTITY', field: 'Identity' },
  ],
  extraFields: ['Current', 'Insecure'],
  rows: (items) =>
    items.map((c) => ({
      // --quiet prints the ID: for a context, its name.
      ID: c.name,
      Name: c.current ? `${c.name} *` : c.name,
      Description: c.description ?? '',
      Host: c.host,
      Identity: c.identity,
      Current: c.current,
      Insecure: c.insecure === true,
    })),
  filters: { name: (c, v) => c.name.startsWith(v) },
};
