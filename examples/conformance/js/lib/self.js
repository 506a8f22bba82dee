// phoenix.js finds its global object through `self` (browsers and workers). Node has no
// `self`, so alias it before any phoenix module is evaluated: import this module first.
globalThis.self = globalThis;
