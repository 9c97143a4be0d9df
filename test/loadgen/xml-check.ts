// A strict little well-formedness checker for the HTML report (written as XML-compatible
// HTML: every element closed, attributes quoted, text escaped). Returns the element tree so a
// test can check the structure.

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITY = /^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/;

function checkText(s: string, where: number): void {
  for (let i = s.indexOf('&'); i >= 0; i = s.indexOf('&', i + 1)) {
    if (!ENTITY.test(s.slice(i))) throw new Error(`bare "&" at ${where + i}: ${s.slice(i, i + 12)}`);
  }
  if (s.includes('>') && /]]>/.test(s)) throw new Error(`"]]>" in text at ${where}`);
}

/** Parse `doc`; throws on any well-formedness error (unclosed or mismatched tag, bad attribute, bare & or <). */
export function parseXmlish(doc: string): XmlElement {
  let i = 0;
  const root: XmlElement = { name: '#root', attrs: {}, children: [], text: '' };
  const stack: XmlElement[] = [root];
  const rawText = new Set(['script', 'style']);
  while (i < doc.length) {
    const lt = doc.indexOf('<', i);
    const text = doc.slice(i, lt < 0 ? doc.length : lt);
    checkText(text, i);
    stack[stack.length - 1]!.text += text;
    if (lt < 0) break;
    i = lt;
    if (doc.startsWith('<!DOCTYPE', i)) { i = doc.indexOf('>', i) + 1; continue; }
    if (doc.startsWith('<!--', i)) { const e = doc.indexOf('-->', i); if (e < 0) throw new Error('unclosed comment'); i = e + 3; continue; }
    const close = doc.startsWith('</', i);
    const end = doc.indexOf('>', i);
    if (end < 0) throw new Error(`unclosed tag at ${i}`);
    const inner = doc.slice(i + (close ? 2 : 1), end);
    if (inner.includes('<')) throw new Error(`"<" inside a tag at ${i}: ${inner.slice(0, 40)}`);
    i = end + 1;
    if (close) {
      const name = inner.trim();
      const top = stack.pop()!;
      if (top.name !== name) throw new Error(`</${name}> closes <${top.name}> at ${i}`);
      continue;
    }
    const selfClose = inner.endsWith('/');
    const body = selfClose ? inner.slice(0, -1) : inner;
    const m = /^([A-Za-z][\w:-]*)([\s\S]*)$/.exec(body.trim());
    if (m === null) throw new Error(`bad tag at ${i}: <${inner.slice(0, 40)}>`);
    const el: XmlElement = { name: m[1]!, attrs: {}, children: [], text: '' };
    let rest = m[2]!.trim();
    while (rest !== '') {
      const a = /^([A-Za-z_:][\w:.-]*)="([^"]*)"\s*/.exec(rest);
      if (a === null) throw new Error(`bad attribute in <${el.name}>: ${rest.slice(0, 40)}`);
      if (a[1]! in el.attrs) throw new Error(`attribute ${a[1]} twice in <${el.name}>`);
      checkText(a[2]!, i);
      el.attrs[a[1]!] = a[2]!;
      rest = rest.slice(a[0].length);
    }
    stack[stack.length - 1]!.children.push(el);
    if (selfClose) continue;
    if (rawText.has(el.name)) {
      const e = doc.indexOf(`</${el.name}>`, i);
      if (e < 0) throw new Error(`unclosed <${el.name}>`);
      el.text = doc.slice(i, e);
      if (el.text.includes('<')) throw new Error(`"<" inside <${el.name}>`);
      i = e + el.name.length + 3;
      continue;
    }
    stack.push(el);
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  return root;
}

/** Every element below `el` (depth first) that satisfies `pred`. */
export function findAll(el: XmlElement, pred: (e: XmlElement) => boolean): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement): void => {
    for (const c of e.children) {
      if (pred(c)) out.push(c);
      walk(c);
    }
  };
  walk(el);
  return out;
}
