import { InputError } from '../common/index.js';

/**
 * A sealed image, manifest, signature or key failed verification. It is bad input (exit 2);
 * the agent maps it to the `tampered` failure reason and never boots the image.
 */
export class TamperedError extends InputError {}
