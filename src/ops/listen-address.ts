// The `--metrics` / `"metrics"` listen address, shared by the command line and the config file checks.
/** `--metrics` / `"metrics"` as text: PORT, HOST:PORT or [IPv6]:PORT. */
export const LISTEN_ADDRESS = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+):)?(\d{1,5})$/;

/**
 * `PORT`, `HOST:PORT` or `[IPv6]:PORT` (the --metrics address); undefined when malformed. A
 * bare port leaves the host undefined (the server's loopback default).
 */
export function parseListenAddress(text: string): { host: string | undefined; port: number } | undefined {
  const m = LISTEN_ADDRESS.exec(text);
  if (m === null || Number(m[2]) > 65535) return undefined;
  const host = m[1]?.startsWith('[') === true ? m[1].slice(1, -1) : m[1];
  return { host, port: Number(m[2]) };
}
