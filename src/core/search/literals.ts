/**
 * The literal text every match of an I-Regexp must contain: what an index of trigrams
 * (SQLite's FTS5 trigram tokenizer, PostgreSQL's pg_trgm) can narrow the rows by before the
 * exact check runs. Conservative: a construct it does not follow (an alternation, a group,
 * a class, `.`) only ends a run of literal characters, so the pieces it returns are always
 * in every string the pattern matches, for match() and search() alike.
 */

const SINGLE: Record<string, string> = { n: '\n', r: '\r', t: '\t' };

/** Pieces of at least `min` characters that every matching string contains; [] when none is certain. */
export function requiredLiterals(pattern: string, min = 3): string[] {
  const out: string[] = [];
  let run: string[] = [];
  const end = (): void => {
    if (run.length >= min) out.push(run.join(''));
    run = [];
  };
  const cps = Array.from(pattern);
  let depth = 0;
  for (let j = 0; j < cps.length; j++) {
    const c = cps[j]!;
    if (c === '\\') j++;
    else if (c === '[') {
      j++;
      while (j < cps.length && cps[j] !== ']') j += cps[j] === '\\' ? 2 : 1;
    } else if (c === '(') depth++;
    else if (c === ')') depth--;
    // An alternation at the top level means no piece is certain (`a|b`).
    else if (c === '|' && depth === 0) return [];
  }
  let i = 0;
  /** Skips a bracketed construct starting at i (`[...]`, `(...)`, `{...}`, `\p{..}`). */
  const skipClass = (): void => {
    i++;
    while (i < cps.length && cps[i] !== ']') i += cps[i] === '\\' ? 2 : 1;
    i++;
  };
  const skipGroup = (): void => {
    let d = 0;
    for (; i < cps.length; i++) {
      const c = cps[i]!;
      if (c === '\\') {
        i++;
        continue;
      }
      if (c === '[') {
        skipClass();
        i--;
        continue;
      }
      if (c === '(') d++;
      else if (c === ')' && --d === 0) {
        i++;
        return;
      }
    }
  };
  /** A quantifier after the atom just read: the atom may be absent (`?`, `*`, `{0,`) or repeat. */
  const quantifier = (atomInRun: boolean): void => {
    const q = cps[i];
    if (q !== '?' && q !== '*' && q !== '+' && q !== '{') return;
    let optional = q === '?' || q === '*';
    if (q === '{') {
      let j = i + 1;
      let n = '';
      while (j < cps.length && cps[j] !== '}') n += cps[j++];
      optional = /^0*(,|$)/.test(n) || !/^\d/.test(n);
      i = j + 1;
    } else i++;
    if (atomInRun) {
      if (optional) run.pop();
      end();
    }
  };
  while (i < cps.length) {
    const c = cps[i]!;
    if (c === '(') {
      end();
      skipGroup();
      quantifier(false);
      continue;
    }
    if (c === '[') {
      end();
      skipClass();
      quantifier(false);
      continue;
    }
    if (c === '.' || c === '^' || c === '$') {
      end();
      i++;
      quantifier(false);
      continue;
    }
    if (c === '\\') {
      const e = cps[i + 1] ?? '';
      if (e === 'p' || e === 'P') {
        end();
        i += 2;
        if (cps[i] === '{') {
          while (i < cps.length && cps[i] !== '}') i++;
          i++;
        }
        quantifier(false);
        continue;
      }
      run.push(SINGLE[e] ?? e);
      i += 2;
      quantifier(true);
      continue;
    }
    run.push(c);
    i++;
    quantifier(true);
  }
  end();
  return out;
}
