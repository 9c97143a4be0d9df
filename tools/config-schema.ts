// Writes schema/route-config.schema.json, the JSON Schema of the `vmsg route --config` file, from
// its one definition (src/ops/route-config-schema.ts). `npm run schema` after changing it; a test
// fails while the file in the repository differs from what this writes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/util/paths.js';
import { routeConfigJsonSchema } from '../src/ops/route-config-schema.js';

export const SCHEMA_FILE = join(packageRoot(), 'schema', 'route-config.schema.json');

writeFileSync(SCHEMA_FILE, JSON.stringify(routeConfigJsonSchema(), null, 2) + '\n');
process.stderr.write(`config-schema: wrote ${SCHEMA_FILE}\n`);
