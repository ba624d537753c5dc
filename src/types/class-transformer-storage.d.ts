// class-transformer keeps its @Type() metadata in a singleton it exports only from its CommonJS
// build, without a declaration beside it; its types/ folder has the declaration.
declare module 'class-transformer/cjs/storage' {
  export { defaultMetadataStorage } from 'class-transformer/types/storage';
}
