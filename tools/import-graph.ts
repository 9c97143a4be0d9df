// The import graph of the TypeScript sources under one folder, read with the compiler's own
// import scanner (static imports, type-only imports and re-exports), and the cycles in it,
// between files and between folders. A dynamic `import()` is left out: it is how a lower layer
// loads an optional plug-in on demand (the router loads the bus-model adapter only when a link
// asks for a model), which adds nothing to the load order a cycle would tangle. test/architecture/imports.test.ts holds
// src/ to no cycles and to the layering rules.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** file (relative to the root, '/'-separated) → the files of the same tree it imports. */
export type ImportGraph = Map<string, Set<string>>;

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const posix = (p: string): string => p.split(sep).join('/');

/** Every file under `root` and the files under `root` it imports (imports leaving the tree are left out). */
export function importGraph(root: string): ImportGraph {
  const graph: ImportGraph = new Map();
  const files = sources(resolve(root));
  const known = new Set(files);
  for (const file of files) {
    const deps = new Set<string>();
    const text = readFileSync(file, 'utf8');
    const info = ts.preProcessFile(text, true, false);
    // The scanner lists `import('…')` among the imports: leave those out unless also imported statically.
    const dynamicOnly = new Set([...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!));
    for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?from\s*['"]([^'"]+)['"]/gm)) dynamicOnly.delete(m[1]!);
    for (const { fileName } of info.importedFiles) {
      if (!fileName.startsWith('.') || dynamicOnly.has(fileName)) continue;
      const target = resolve(dirname(file), fileName.replace(/\.js$/, '.ts'));
      if (known.has(target)) deps.add(posix(relative(root, target)));
    }
    graph.set(posix(relative(root, file)), deps);
  }
  return graph;
}

/** The top folder of a file ('.' for the root's own files): a subfolder belongs to its top folder. */
export function folderOf(file: string): string {
  const i = file.indexOf('/');
  return i < 0 ? '.' : file.slice(0, i);
}

/** The graph between folders: an edge a → b when a file of a imports a file of b (a ≠ b). */
export function folderGraph(graph: ImportGraph): ImportGraph {
  const out: ImportGraph = new Map();
  for (const [file, deps] of graph) {
    const from = folderOf(file);
    if (!out.has(from)) out.set(from, new Set());
    for (const d of deps) if (folderOf(d) !== from) out.get(from)!.add(folderOf(d));
  }
  return out;
}

/**
 * Every strongly connected component of more than one node (Tarjan), each as one cycle's members,
 * sorted: an empty list means the graph has no cycle.
 */
export function cycles(graph: ImportGraph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.has(v)) found.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

/** One path a → … → a inside a component, for a readable failure message. */
export function cyclePath(graph: ImportGraph, members: readonly string[]): string[] {
  const inside = new Set(members);
  const start = members[0]!;
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u: string | undefined = v; u !== undefined && u !== start; u = prev.get(u)) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [...members];
}
