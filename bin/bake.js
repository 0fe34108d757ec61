#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so an installed bake needs no build step.
import { register } from 'tsx/esm/api';
register();
await import('../bake/cli.ts');
