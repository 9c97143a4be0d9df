// The shape of src/: no import cycle between files or between folders, and the endpoint sides
// (device/, driver/, bus/) reach the router only through its public entry points.
import { describe, expect, test } from 'vitest';
import { fileURLToPath } from 'node:url';
import { cyclePath, cycles, folderGraph, folderOf, importGraph } from '../../tools/import-graph.js';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));
const graph = importGraph(SRC);

/** The router's files other folders may import: its public entry points. */
const ROUTER_PUBLIC = new Set(['router/router.ts', 'router/options.ts']);

describe('import graph of src/', () => {
  test('the scanner sees the tree (a sanity check on the graph itself)', () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get('router/router.ts')!.size).toBeGreaterThan(3);
  });

  test('no cycle between files', () => {
    expect(cycles(graph).map((c) => cyclePath(graph, c).join(' -> '))).toEqual([]);
  });

  test('no cycle between folders', () => {
    const folders = folderGraph(graph);
    const found = cycles(folders).map((c) => {
      // Name the file edges that close the cycle, so the failure says what to move.
      const inside = new Set(c);
      const edges: string[] = [];
      for (const [file, deps] of graph) {
        for (const d of deps) {
          if (inside.has(folderOf(file)) && inside.has(folderOf(d)) && folderOf(file) !== folderOf(d)) edges.push(`${file} -> ${d}`);
        }
      }
      return `${cyclePath(folders, c).join(' -> ')}: ${edges.join(', ')}`;
    });
    expect(found).toEqual([]);
  });

  test('device/, driver/ and bus/ import only the router\'s public entry points', () => {
    const internal: string[] = [];
    for (const [file, deps] of graph) {
      if (!/^(device|driver|bus)\//.test(file)) continue;
      for (const d of deps) if (d.startsWith('router/') && !ROUTER_PUBLIC.has(d)) internal.push(`${file} -> ${d}`);
    }
    expect(internal).toEqual([]);
  });
});
