// The manager's data key: encrypts secret values in state.db; kept in its own 0600 file beside it.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import { newDataKey } from '../../shared/sealing.js';

export const DATA_KEY_FILE = 'secrets.key';

/**
 * Reads DIR/secrets.key, creating it on first start. The key never enters the database, its
 * WAL or the Raft log, so a copy of state.db alone reveals no secret value.
 */
export async function loadOrCreateDataKey(dataDir: string): Promise<Uint8Array> {
  const file = path.join(dataDir, DATA_KEY_FILE);
  let text: string | undefined;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (text !== undefined) {
    const key = new Uint8Array(Buffer.from(text.trim(), 'base64'));
    if (key.length !== 32) throw new Error(`${file} is damaged: expected a 32-byte key`);
    await fs.chmod(file, 0o600);
    return key;
  }
  const key = newDataKey();
  await writeFileAtomic(file, Buffer.from(key).toString('base64') + '\n', 0o600);
  return key;
}
