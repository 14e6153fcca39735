/* rng.c - numpy-compatible MT19937 RandomState (see rng.h for which algorithms and why). */
#include "base/rng.h"

#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfU
#define MT_UPPER 0x80000000U
#define MT_LOWER 0x7fffffffU

void ef_rng_seed(ef_rng *r, uint32_t seed)
{
    for (int i = 0; i < EF_RNG_N; i++) {
        r->key[i] = seed;
        seed = 1812433253U * (seed ^ (seed >> 30)) + (uint32_t)i + 1U;
    }
    r->pos = EF_RNG_N;
}

static void mt_refill(ef_rng *r)
{
    uint32_t *k = r->key;
    int i;
    for (i = 0; i < EF_RNG_N - MT_M; i++) {
        uint32_t y = (k[i] & MT_UPPER) | (k[i + 1] & MT_LOWER);
        k[i] = k[i + MT_M] ^ (y >> 1) ^ (-(y & 1U) & MT_MATRIX_A);
    }
    for (; i < EF_RNG_N - 1; i++) {
        uint32_t y = (k[i] & MT_UPPER) | (k[i + 1] & MT_LOWER);
        k[i] = k[i + (MT_M - EF_RNG_N)] ^ (y >> 1) ^ (-(y & 1U) & MT_MATRIX_A);
    }
    uint32_t y = (k[EF_RNG_N - 1] & MT_UPPER) | (k[0] & MT_LOWER);
    k[EF_RNG_N - 1] = k[MT_M - 1] ^ (y >> 1) ^ (-(y & 1U) & MT_MATRIX_A);
    r->pos = 0;
}

uint32_t ef_rng_next32(ef_rng *r)
{
    if (r->pos >= EF_RNG_N)
        mt_refill(r);
    uint32_t y = r->key[r->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= y >> 18;
    return y;
}

static uint64_t next64(ef_rng *r)
{
    uint64_t hi = ef_rng_next32(r);
    return (hi << 32) | ef_rng_next32(r);
}

double ef_rng_random_sample(ef_rng *r)
{
    int32_t a = (int32_t)(ef_rng_next32(r) >> 5), b = (int32_t)(ef_rng_next32(r) >> 6);
    return (a * 67108864.0 + b) / 9007199254740992.0;
}

double ef_rng_uniform(ef_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * ef_rng_random_sample(r);
}

uint64_t ef_rng_interval(ef_rng *r, uint64_t max)
{
    if (max == 0)
        return 0;
    uint64_t mask = max, v;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;
    if (max <= 0xffffffffULL) {
        do
            v = ef_rng_next32(r) & mask;
        while (v > max);
    } else {
        do
            v = next64(r) & mask;
        while (v > max);
    }
    return v;
}

int64_t ef_rng_randint(ef_rng *r, int64_t lo, int64_t hi)
{
    /* numpy's legacy _rand_int64 path for ranges below 2^32: masked rejection on 32-bit draws */
    uint64_t rng = (uint64_t)(hi - lo - 1);
    if (rng == 0)
        return lo;
    return lo + (int64_t)ef_rng_interval(r, rng);
}

void ef_rng_shuffle(ef_rng *r, size_t *x, size_t n)
{
    for (size_t i = n; i-- > 1;) {
        size_t j = (size_t)ef_rng_interval(r, i);
        size_t t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

void ef_rng_permutation(ef_rng *r, size_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = i;
    ef_rng_shuffle(r, out, n);
}
