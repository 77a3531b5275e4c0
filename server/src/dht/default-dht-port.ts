/**
 * UDP port `passage-server` binds its DHT node on when `--dht-port` / `PASSAGE_DHT_PORT` is
 * not given. 7401: unassigned by IANA, next to nothing common; the HTTP default is 8080.
 * A file of its own so `main.ts` can read it before loading the DHT (fast `--help`).
 */
export const DEFAULT_DHT_PORT = 7401
