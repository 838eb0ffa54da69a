// Container images preloaded on a board's boot partition: the preload/ folder, its index.json schema, and safe file names.
import { z } from 'zod';

/** The folder at the root of the boot partition that holds the saved images. */
export const PRELOAD_DIR = 'preload';
/** The index in that folder, written last: a board only trusts what it lists. */
export const PRELOAD_INDEX = 'index.json';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 is 64 lower-case hex digits');
/** A file name inside preload/: no folders, no leading dot. */
const fileName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*\.tar$/, 'a plain NAME.tar');

export const preloadEntrySchema = z.object({
  /** The image reference as given (fleet-test/busybox:3), the tag `docker load` restores. */
  ref: z.string().min(1),
  /** The tar (`docker save` output) in preload/. */
  file: fileName,
  /** Its size in bytes. */
  size: z.number().int().nonnegative(),
  /** The sha256 of the tar, checked on the board before it is loaded. */
  sha256: sha256Hex,
  /** The image id (sha256:…) the engine gives it, so a board can tell it already has it. */
  id: z.string().min(1),
  /** The image's architecture as Docker reports it (arm64, amd64). */
  arch: z.string().optional(),
});

export const preloadIndexSchema = z.object({
  version: z.literal(1),
  images: z.array(preloadEntrySchema),
});

export type PreloadEntry = z.infer<typeof preloadEntrySchema>;
export type PreloadIndex = z.infer<typeof preloadIndexSchema>;

/** index.json's text, one image per entry. */
export function formatPreloadIndex(images: readonly PreloadEntry[]): string {
  const index: PreloadIndex = { version: 1, images: [...images] };
  return `${JSON.stringify(index, null, 2)}\n`;
}

/** The index from its text; a mistake names the entry and field. */
export function parsePreloadIndex(text: string): PreloadIndex {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const r = preloadIndexSchema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = (issue?.path ?? []).map(String).join('.');
  throw new Error(`${where || 'index'}: ${issue?.message ?? 'invalid'}`);
}

const MAX_NAME = 100;

/**
 * A file name for an image reference that FAT and every laptop accept: the reference with each
 * run of characters other than letters, digits, "." and "-" turned into "_", and ".tar"
 * ("ghcr.io/acme/web:1.2" → "ghcr.io_acme_web_1.2.tar"). `taken` (lower-case names, as FAT
 * compares them) gets a number added on a clash.
 */
export function preloadFileName(ref: string, taken: ReadonlySet<string> = new Set()): string {
  const base =
    ref
      .replace(/@sha256:([0-9a-f]{12})[0-9a-f]*/i, '_$1')
      .replace(/[^A-Za-z0-9.-]+/g, '_')
      .replace(/^[._-]+|[._-]+$/g, '')
      .slice(0, MAX_NAME) || 'image';
  let name = `${base}.tar`;
  for (let n = 2; taken.has(name.toLowerCase()); n++) name = `${base}-${n}.tar`;
  return name;
}
