/* rng.h - numpy's legacy RandomState (MT19937), bit for bit.
 *
 * scikit-learn draws every random choice edgeflow must reproduce (train_test_split, KFold
 * shuffling, the MLP's Glorot initialisation and epoch shuffling) from np.random.RandomState(seed).
 * This module reproduces that generator and the few legacy algorithms on top of it, so a seed means
 * the same rows and the same initial weights here as in a notebook:
 *   - seeding with an int: MT19937's init_genrand (numpy's mt19937_seed), not init_by_array;
 *   - random_sample(): 53-bit doubles from two 32-bit outputs ((a>>5)*2^26 + (b>>6)) / 2^53;
 *   - uniform(lo, hi) = lo + (hi-lo)*random_sample();
 *   - shuffle/permutation: Fisher-Yates from the end with numpy's masked-rejection
 *     random_interval(i) for i = n-1 .. 1;
 *   - randint(lo, hi) (legacy, 32-bit range): masked rejection over next_uint32.
 * Plain struct, caller-embedded; not thread-safe (one generator per thread, like numpy's).
 */
#ifndef EF_BASE_RNG_H
#define EF_BASE_RNG_H

#include <stddef.h>
#include <stdint.h>

#define EF_RNG_N 624

typedef struct ef_rng {
    uint32_t key[EF_RNG_N];
    int pos;
} ef_rng;

/* Seeds like np.random.RandomState(seed) for 0 <= seed < 2^32. */
void ef_rng_seed(ef_rng *r, uint32_t seed);

uint32_t ef_rng_next32(ef_rng *r);
/* random_sample(): uniform in [0, 1). */
double ef_rng_random_sample(ef_rng *r);
/* uniform(lo, hi): lo + (hi - lo) * random_sample(). */
double ef_rng_uniform(ef_rng *r, double lo, double hi);
/* numpy's random_interval(max): uniform integer in [0, max]. */
uint64_t ef_rng_interval(ef_rng *r, uint64_t max);
/* Legacy randint(lo, hi) for hi - lo <= 2^32: uniform in [lo, hi). lo < hi required. */
int64_t ef_rng_randint(ef_rng *r, int64_t lo, int64_t hi);
/* shuffle(x) of a 1-d array of n indices, in place. */
void ef_rng_shuffle(ef_rng *r, size_t *x, size_t n);
/* permutation(n): out[0..n) = a shuffled 0..n-1. */
void ef_rng_permutation(ef_rng *r, size_t *out, size_t n);

#endif
