/** See build-cache.js. */
export declare function lookup(root: string, name: string, settings: string): string | undefined;
export declare function store(root: string, name: string, settings: string, inputs: string[], bytes: Uint8Array): string;
