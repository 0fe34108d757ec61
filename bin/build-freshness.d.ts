export declare const SOURCE_DIRS: string[];
export declare const BUILD_STAMP: string;
export declare function compiledBuildIsFresh(root: string): boolean;
