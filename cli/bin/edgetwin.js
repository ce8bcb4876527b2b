#!/usr/bin/env node
// edgetwin ships its TypeScript sources; tsx runs them without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../main.ts');
