// First half of the seeded fuzz (see fuzz-shared.ts).
import { describeFuzzHalf } from './fuzz-shared.js';

describeFuzzHalf(0);
