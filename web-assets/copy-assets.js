// Copies the front-end assets installed by `npm ci` into the package's static folder.
// Plain Node.js, no dependencies: run by scripts/setup as `node copy-assets.js` in web-assets/.
"use strict";

const fs = require("fs");
const path = require("path");

const here = __dirname;
const vendor = path.join(here, "..", "src", "datalabs", "web", "static", "vendor");

// [source inside node_modules, file name under static/vendor]
const ASSETS = [
  ["@picocss/pico/css/pico.min.css", "pico.min.css"],
  ["@picocss/pico/LICENSE.md", "pico.LICENSE.md"],
];

fs.mkdirSync(vendor, { recursive: true });
let failed = false;
for (const [source, target] of ASSETS) {
  const from = path.join(here, "node_modules", source);
  if (!fs.existsSync(from)) {
    console.error(`copy-assets: ${from} is missing; run \`npm ci\` in web-assets/ first`);
    failed = true;
    continue;
  }
  fs.copyFileSync(from, path.join(vendor, target));
  console.log(`copy-assets: ${source} -> src/datalabs/web/static/vendor/${target}`);
}
process.exit(failed ? 1 : 0);
