// Board profiles: the data files in firmware-images/boards/, their schema, and the boot-file templates they carry.
import { readFile, readdir } from 'node:fs/promises';
import { parse } from 'yaml';
import { z } from 'zod';

export const boardSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9-]+$/),
    description: z.string().min(1),
    arch: z.enum(['arm64']),
    /** False when the board cannot be built from the Debian release's packages; `note` says why. */
    supported: z.boolean(),
    note: z.string().optional(),
    packages: z
      .object({
        kernel: z.array(z.string()).min(1),
        firmware: z.array(z.string()),
        /** Further Debian packages the board needs (Wi-Fi tools, say). */
        extra: z.array(z.string()).default([]),
      })
      .strict(),
    /** Directories under /lib/modules/VERSION/kernel/ the board cannot use, removed from the image. */
    trimModules: z.array(z.string().regex(/^[a-z0-9_][a-z0-9_/-]*$/)).default([]),
    /**
     * Folders under /lib/modules/VERSION/kernel/ of which only the named entries stay (shell
     * patterns: "*.ko" keeps the modules directly in the folder): the network cards of the
     * board's own vendor, say, rather than every server's.
     */
    keepOnlyModules: z
      .record(
        z.string().regex(/^[a-z0-9_][a-z0-9_/-]*$/),
        z.array(z.string().regex(/^[a-z0-9_.*-]+$/)).min(1),
      )
      .default({}),
    /**
     * Device-tree folders (by vendor) kept in /usr/lib/linux-image-VERSION/; the kernel package
     * ships every arm64 board's, and the rest are removed. The boot files are copied first.
     */
    deviceTrees: z.array(z.string().regex(/^[a-z0-9-]+$/)).default([]),
    /**
     * Kernel modules the initramfs holds: what the board needs to reach its root file system
     * (storage controller, block device, ext4). Built-in drivers may be named; they are skipped.
     */
    initramfsModules: z.array(z.string().regex(/^[a-z0-9_-]+$/)).min(1),
    bootPartitionMiB: z.number().int().min(32).max(4096),
    bootFiles: z.array(z.string().regex(/^[^/]+$/)).min(1),
    console: z.string().min(1),
    configTxt: z.string().optional(),
    cmdlineTxt: z.string().min(1),
  })
  .strict();

export type Board = z.infer<typeof boardSchema>;

/** Where the profiles live, from dist/firmware-images/ or from the source tree. */
const BOARDS_DIR = new URL('../../firmware-images/boards/', import.meta.url);

export async function listBoards(dir: URL = BOARDS_DIR): Promise<string[]> {
  const names = await readdir(dir);
  return names
    .filter((n) => n.endsWith('.yaml'))
    .map((n) => n.slice(0, -'.yaml'.length))
    .sort();
}

/** The profile named `name`; an unknown name is an error that lists the known boards. */
export async function loadBoard(name: string, dir: URL = BOARDS_DIR): Promise<Board> {
  const known = await listBoards(dir);
  if (!known.includes(name)) {
    throw new Error(`unknown board "${name}"; known boards: ${known.join(', ')}`);
  }
  const raw: unknown = parse(await readFile(new URL(`${name}.yaml`, dir), 'utf8'));
  const r = boardSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`board ${name}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? ''}`);
  }
  if (r.data.name !== name) throw new Error(`board file ${name}.yaml names "${r.data.name}"`);
  return r.data;
}

/** The values a boot-file template may use. */
export interface BootVars {
  /** The root file system, e.g. LABEL=fleetroot. */
  readonly root: string;
  readonly console: string;
  readonly kernel: string;
  readonly initrd: string;
}

/** Fills `{{name}}` placeholders; a placeholder without a value is an error, not an empty string. */
export function renderTemplate(template: string, vars: BootVars): string {
  const values: Record<string, string> = { ...vars };
  return template.replace(/\{\{\s*([a-zA-Z]+)\s*\}\}/g, (_m, key: string) => {
    const v = values[key];
    if (v === undefined) throw new Error(`template uses {{${key}}}, which has no value`);
    return v;
  });
}

/** The boot files a profile generates (cmdline.txt, and config.txt where the board reads one). */
export function bootTexts(board: Board, vars: Omit<BootVars, 'console'>): Map<string, string> {
  const all: BootVars = { ...vars, console: board.console };
  const out = new Map<string, string>();
  // cmdline.txt is one line (the Pi firmware reads only the first).
  out.set('cmdline.txt', `${renderTemplate(board.cmdlineTxt, all).trim()}\n`);
  if (board.configTxt !== undefined) out.set('config.txt', renderTemplate(board.configTxt, all));
  return out;
}

/** Boot files the profile expects that `present` lacks. */
export function missingBootFiles(board: Board, present: readonly string[]): string[] {
  const have = new Set(present.map((p) => p.toLowerCase()));
  return board.bootFiles.filter((f) => !have.has(f.toLowerCase()));
}
