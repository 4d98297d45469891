#!/usr/bin/env node
// Committed and executable, so that `npx threadline` works straight after `npm install`, which
// builds dist/ (the root `prepare` script) after it has linked this file.
import '../dist/cli.js';
