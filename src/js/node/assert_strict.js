// node:assert/strict: the strict variant of node:assert (`assert.strict`).
"use strict";
module.exports = require("node:assert").strict;
