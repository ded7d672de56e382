import { status } from '@grpc/grpc-js';
import { invalidArgument } from '../errors.js';
import { CsiStatusError } from './status.js';

/*
 * Paging of ListVolumes and ListSnapshots. Entries are sorted by id, and a page's token names the
 * last id it held: the next page is the entries after that id, whatever was added or deleted
 * meanwhile, so a token stays good across calls (deleting the entry it names included) and no
 * entry is listed twice. A token this plugin did not make, or made for the other listing, is
 * ABORTED, as the spec asks for an invalid `starting_token`.
 */

export type Listing = 'volumes' | 'snapshots';

/** One page of `entries` (any order): those after `startingToken`'s id, at most `maxEntries` (0: all), and the next page's token ('' when none). */
export function pageOf<T>(entries: readonly T[], idOf: (entry: T) => string, listing: Listing, startingToken: string, maxEntries: number): { page: T[]; nextToken: string } {
  if (maxEntries < 0) throw invalidArgument('max_entries', 'must not be negative');
  const sorted = [...entries].sort((a, b) => compare(idOf(a), idOf(b)));
  const after = startingToken === '' ? undefined : idInToken(startingToken, listing);
  const rest = after === undefined ? sorted : sorted.filter((entry) => compare(idOf(entry), after) > 0);
  if (maxEntries === 0 || rest.length <= maxEntries) return { page: rest, nextToken: '' };
  const page = rest.slice(0, maxEntries);
  return { page, nextToken: tokenAfter(idOf(page[page.length - 1]!), listing) };
}

const prefixes: Record<Listing, string> = { volumes: 'v1.v.', snapshots: 'v1.s.' };

function tokenAfter(id: string, listing: Listing): string {
  return prefixes[listing] + Buffer.from(id).toString('base64url');
}

function idInToken(token: string, listing: Listing): string {
  const prefix = prefixes[listing];
  const encoded = token.startsWith(prefix) ? token.slice(prefix.length) : undefined;
  const id = encoded !== undefined && /^[A-Za-z0-9_-]+$/.test(encoded) ? Buffer.from(encoded, 'base64url').toString() : undefined;
  if (id === undefined || id === '' || tokenAfter(id, listing) !== token) {
    throw new CsiStatusError(status.ABORTED, `starting_token: ${JSON.stringify(token.slice(0, 64))} is not a token of this plugin's ${listing} listing; list again from the start`);
  }
  return id;
}

// Byte order, the same on every call and every Node version (localeCompare is neither).
function compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
