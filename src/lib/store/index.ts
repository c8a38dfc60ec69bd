export type * from './types.js';
export { KyselyStore } from './kysely-store.js';
