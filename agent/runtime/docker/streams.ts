// The engine's response streams: newline-delimited JSON split from arbitrary chunks, and streams ended early.
import { StringDecoder } from 'node:string_decoder';
import { isRecord } from './fields.js';

/**
 * Splits newline-delimited JSON arriving in arbitrary chunks (several lines, part of one, or a
 * split multi-byte character). A line that is not JSON is dropped: it must not kill the stream.
 */
export class JsonLines {
  private readonly decoder = new StringDecoder('utf8');
  private buffered = '';

  push(chunk: Buffer | string): unknown[] {
    this.buffered += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const lines = this.buffered.split('\n');
    this.buffered = lines.pop() ?? '';
    return lines.flatMap(parseJsonLine);
  }

  end(): unknown[] {
    const rest = this.buffered + this.decoder.end();
    this.buffered = '';
    return parseJsonLine(rest);
  }
}

/** Ends a response stream (and frees its engine connection) whether or not it was read. */
export function destroyStream(stream: NodeJS.ReadableStream): void {
  const s: unknown = stream;
  if (isRecord(s) && typeof s.destroy === 'function') (s.destroy as () => void).call(s);
}

function parseJsonLine(line: string): unknown[] {
  const text = line.trim();
  if (!text) return [];
  try {
    return [JSON.parse(text) as unknown];
  } catch {
    return [];
  }
}
