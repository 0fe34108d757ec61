/**
 * The extension catalogue: every folder in sysexts/ with a recipe.ts is a recipe, so adding an extension
 * touches nothing here. Loaded once, at import, so lookups stay synchronous.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RecipeEndpoint } from '../core/endpoints.ts';
import { usageError } from '../core/errors.ts';
import { MODULE_EXTENSION, MODULE_ROOT, PROJECT_ROOT } from '../core/project.ts';
import { suggestion } from '../core/suggest.ts';
import type { Recipe } from './recipe.ts';

/** The source catalogue: it decides which recipes exist and holds their static files. */
export const CATALOG_DIR = join(PROJECT_ROOT, 'sysexts');
/** The recipe modules of the running build. */
const RECIPE_MODULES = pathToFileURL(join(MODULE_ROOT, 'sysexts/'));

async function loadRecipes(): Promise<Map<string, Recipe>> {
  const names = readdirSync(CATALOG_DIR, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(CATALOG_DIR, entry.name, 'recipe.ts')))
    .map((entry) => entry.name)
    .sort();
  const recipes = new Map<string, Recipe>();
  for (const name of names) {
    const module = (await import(new URL(`${name}/recipe${MODULE_EXTENSION}`, RECIPE_MODULES).href)) as {
      default: Recipe;
    };
    if (module.default.name !== name)
      throw new Error(`sysexts/${name}/recipe.ts names itself '${module.default.name}'`);
    recipes.set(name, module.default);
  }
  return recipes;
}

const RECIPES = await loadRecipes();

/**
 * Every endpoint the recipes declare, once each, in recipe order (a sysexts/ helper's endpoints are
 * declared by each recipe made with it, as one object).
 */
export function recipeEndpoints(): RecipeEndpoint[] {
  const byName = new Map<string, RecipeEndpoint>();
  for (const recipe of RECIPES.values())
    for (const endpoint of recipe.endpoints ?? []) {
      const known = byName.get(endpoint.name);
      if (known && known !== endpoint)
        throw new Error(`sysexts/${recipe.name} declares ${endpoint.flag} differently from another recipe`);
      byName.set(endpoint.name, endpoint);
    }
  return [...byName.values()];
}

export function recipeNames(): string[] {
  return [...RECIPES.keys()];
}

export function getRecipe(name: string): Recipe {
  const recipe = RECIPES.get(name);
  if (!recipe)
    throw usageError(
      `unknown extension '${name}'`,
      suggestion(name, recipeNames(), `known extensions: ${recipeNames().join(', ')}`),
    );
  return recipe;
}

/** The recipe's folder (static `files/`, optional extra folders, build scripts). */
export function recipeDir(name: string): string {
  return join(CATALOG_DIR, name);
}
