// Second half of the seeded fuzz (see fuzz-shared.ts), in its own file so it runs in parallel.
import { describeFuzzHalf } from './fuzz-shared.js';

describeFuzzHalf(5000);
