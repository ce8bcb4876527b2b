// For tests: `NODE_OPTIONS=--import <this file>` with EDGETWIN_IMPORT_LOG=<file> appends every
// node-opcua package a process imports to that file, so a test can prove a gateway without OPC UA
// devices never loads the library.
import { register } from 'node:module';

if (process.env.EDGETWIN_IMPORT_LOG) register('./watch-imports-hooks.mjs', import.meta.url);
