/**
 * A minimal XML well-formedness checker for the benchmark's SVG (no dependency): one root
 * element, properly nested and matching tags, quoted and unique attributes, valid names,
 * character and entity references limited to XML's five named entities and numeric ones, no
 * '<' in attribute values or text, comments without '--', processing instructions closed, no
 * text outside the root but whitespace. No DTD is accepted.
 *
 * Returns null when `xml` is well-formed, else a message with the offset of the first problem.
 */
const NAME = /^[A-Za-z_:][-A-Za-z0-9._:]*/;
const REF = /^&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/;

function refsOk(s: string): boolean {
  for (let i = s.indexOf('&'); i >= 0; i = s.indexOf('&', i + 1)) {
    if (!REF.test(s.slice(i))) return false;
  }
  return true;
}

export function xmlWellFormedError(xml: string): string | null {
  let i = 0;
  const n = xml.length;
  const stack: string[] = [];
  let roots = 0;
  const at = (msg: string): string => `${msg} at offset ${i}`;
  if (xml.startsWith('<?xml')) {
    const e = xml.indexOf('?>');
    if (e < 0) return at('unterminated XML declaration');
    i = e + 2;
  }
  while (i < n) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt < 0 ? n : lt);
    if (text.length > 0) {
      if (stack.length === 0 && text.trim() !== '') return at('text outside the root element');
      if (text.includes('>') && text.includes(']]>')) return at("']]>' in text");
      if (!refsOk(text)) return at('bad entity or character reference in text');
    }
    if (lt < 0) break;
    i = lt;
    if (xml.startsWith('<!--', i)) {
      const e = xml.indexOf('-->', i + 4);
      if (e < 0) return at('unterminated comment');
      if (xml.slice(i + 4, e).includes('--')) return at("'--' inside a comment");
      i = e + 3;
      continue;
    }
    if (xml.startsWith('<?', i)) {
      const e = xml.indexOf('?>', i + 2);
      if (e < 0) return at('unterminated processing instruction');
      if (/^<\?xml[\s?]/i.test(xml.slice(i, i + 6))) return at('XML declaration not at the start');
      i = e + 2;
      continue;
    }
    if (xml.startsWith('<!', i)) return at('DTDs and CDATA are not accepted here');
    if (xml.startsWith('</', i)) {
      const m = NAME.exec(xml.slice(i + 2));
      if (!m) return at('bad end tag name');
      const name = m[0];
      let j = i + 2 + name.length;
      while (j < n && /\s/.test(xml[j] as string)) j++;
      if (xml[j] !== '>') return at(`malformed end tag </${name}`);
      const open = stack.pop();
      if (open !== name) return at(`end tag </${name}> does not match <${open ?? '(none)'}>`);
      i = j + 1;
      continue;
    }
    // A start tag or an empty-element tag.
    const m = NAME.exec(xml.slice(i + 1));
    if (!m) return at("'<' not starting a tag");
    const name = m[0];
    if (stack.length === 0) {
      roots++;
      if (roots > 1) return at('more than one root element');
    }
    let j = i + 1 + name.length;
    const seen = new Set<string>();
    for (;;) {
      const ws = j;
      while (j < n && /\s/.test(xml[j] as string)) j++;
      if (j >= n) return at(`unterminated tag <${name}`);
      if (xml[j] === '>') {
        stack.push(name);
        j++;
        break;
      }
      if (xml.startsWith('/>', j)) {
        j += 2;
        break;
      }
      if (j === ws) return at(`missing whitespace before an attribute of <${name}>`);
      const a = NAME.exec(xml.slice(j));
      if (!a) return at(`bad attribute name in <${name}>`);
      const attr = a[0];
      if (seen.has(attr)) return at(`duplicate attribute ${attr} in <${name}>`);
      seen.add(attr);
      j += attr.length;
      while (j < n && /\s/.test(xml[j] as string)) j++;
      if (xml[j] !== '=') return at(`attribute ${attr} without a value`);
      j++;
      while (j < n && /\s/.test(xml[j] as string)) j++;
      const q = xml[j];
      if (q !== '"' && q !== "'") return at(`unquoted value of attribute ${attr}`);
      const e = xml.indexOf(q, j + 1);
      if (e < 0) return at(`unterminated value of attribute ${attr}`);
      const value = xml.slice(j + 1, e);
      if (value.includes('<')) return at(`'<' in the value of attribute ${attr}`);
      if (!refsOk(value)) return at(`bad reference in the value of attribute ${attr}`);
      j = e + 1;
    }
    i = j;
  }
  if (stack.length > 0) return `unclosed element <${stack[stack.length - 1]}> at the end`;
  if (roots !== 1) return 'no root element';
  return null;
}
