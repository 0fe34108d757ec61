/** Vault: the server, upheld, as the vault user, listening on loopback until configured. */
import { hashicorpRecipe } from '../hashicorp.ts';

export default hashicorpRecipe('vault', 'HashiCorp Vault secrets manager');
