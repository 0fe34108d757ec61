export declare const BUILD_CONFIG: string;
export declare const BUILD_STAMP: string;
export declare function compiledBuildIsFresh(root: string): boolean;
