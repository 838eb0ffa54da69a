// Splits a command written as one string into words, as a POSIX shell would (quotes and backslashes), without expanding anything.

/** The words of `text`, or null when a quote is left open. */
export function shellWords(text: string): string[] | null {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i] ?? '';
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return null;
      word += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      const r = doubleQuoted(text, i + 1);
      if (!r) return null;
      word += r.text;
      inWord = true;
      i = r.next;
    } else if (c === '\\') {
      word += text[i + 1] ?? '';
      inWord = true;
      i += 2;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** Inside "…": a backslash escapes only $ ` " \ and a newline. */
function doubleQuoted(text: string, from: number): { text: string; next: number } | null {
  let out = '';
  for (let i = from; i < text.length; i++) {
    const c = text[i] ?? '';
    if (c === '"') return { text: out, next: i + 1 };
    if (c === '\\' && i + 1 < text.length && '$`"\\\n'.includes(text[i + 1] ?? '')) {
      out += text[i + 1] ?? '';
      i++;
    } else out += c;
  }
  return null;
}
