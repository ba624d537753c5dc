declare global {
  /** Set by global-setup when it started an embedded cluster; read by global-teardown. */
  var __E2E_TEARDOWN__: (() => Promise<void>) | undefined;
}
export {};
