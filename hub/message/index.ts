// hub/message: the envelope, resources and delivery classes both sides of the link share.
// Imports nothing of ours but core.
export * from './envelope.ts';
export * from './resource.ts';
export * from './resource-version.ts';
export * from './delivery.ts';
export * from './frame.ts';
export * from './membership.ts';
