/* Unit tests for src/json: ef_json_format_double (Python's repr(float), pinned against CPython
 * 3.11 output, shortest round trip for 100k+ doubles of every shape, the exact-arithmetic shortcut
 * against the general path) and ef_json_dump (every type, every escape, U+0000, key order, the
 * depth limit and cycles, byte equality with json_dumps(JSON_COMPACT) where no reals occur, and
 * parse(dump(x)) == x for a set of documents). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "json/json.h"
#include "json/json_int.h"

/* ---- ef_json_format_double ---------------------------------------------------------------- */

/* repr() of these bit patterns as printed by python3 3.11 (moved from test_csv_table.c). */
typedef struct float_case {
    uint64_t bits;
    const char *repr;
} float_case;

static const float_case floats[] = {
    {0x0000000000000001ULL, "5e-324"},
    {0x0000000000020000ULL, "6.4758e-319"},
    {0x0000000400000000ULL, "8.487983164e-314"},
    {0x0008000000000000ULL, "1.1125369292536007e-308"},
    {0x0110000000000000ULL, "1.4582244039112795e-303"},
    {0x0220000000000000ULL, "1.9113238906945923e-298"},
    {0x0330000000000000ULL, "2.505210450011216e-293"},
    {0x0440000000000000ULL, "3.283629441038701e-288"},
    {0x0550000000000000ULL, "4.303918780958246e-283"},
    {0x0660000000000000ULL, "5.641232424577593e-278"},
    {0x0770000000000000ULL, "7.394076163542342e-273"},
    {0x0880000000000000ULL, "9.691563509078218e-268"},
    {0x0990000000000000ULL, "1.2702926122619002e-262"},
    {0x0aa0000000000000ULL, "1.664997932743918e-257"},
    {0x0bb0000000000000ULL, "2.182346090406108e-252"},
    {0x0cc0000000000000ULL, "2.860444667617094e-247"},
    {0x0dd0000000000000ULL, "3.7492420347390774e-242"},
    {0x0ee0000000000000ULL, "4.914206519773204e-237"},
    {0x0ff0000000000000ULL, "6.441148769597133e-232"},
    {0x1100000000000000ULL, "8.442542515286355e-227"},
    {0x1210000000000000ULL, "1.1065809325636131e-221"},
    {0x1320000000000000ULL, "1.450417759929779e-216"},
    {0x1430000000000000ULL, "1.90109156629516e-211"},
    {0x1540000000000000ULL, "2.491798737774392e-206"},
    {0x1650000000000000ULL, "3.266050441575651e-201"},
    {0x1760000000000000ULL, "4.280877634782037e-196"},
    {0x1870000000000000ULL, "5.611031933461512e-191"},
    {0x1980000000000000ULL, "7.354491775826673e-186"},
    {0x1a90000000000000ULL, "9.639679460411536e-181"},
    {0x1ba0000000000000ULL, "1.263492066235061e-175"},
    {0x1cb0000000000000ULL, "1.656084321055619e-170"},
    {0x1dc0000000000000ULL, "2.170662841294021e-165"},
    {0x1ed0000000000000ULL, "2.8451311993408992e-160"},
    {0x1fe0000000000000ULL, "3.7291703656001034e-155"},
    {0x20f0000000000000ULL, "4.887898181599368e-150"},
    {0x2200000000000000ULL, "6.406665904585923e-145"},
    {0x2310000000000000ULL, "8.397345134458861e-140"},
    {0x2420000000000000ULL, "1.1006568214637918e-134"},
    {0x2530000000000000ULL, "1.4426529090290212e-129"},
    {0x2640000000000000ULL, "1.8909140209225187e-124"},
    {0x2750000000000000ULL, "2.4784588255035637e-119"},
    {0x2860000000000000ULL, "3.248565551764031e-114"},
    {0x2970000000000000ULL, "4.257959840008151e-109"},
    {0x2a80000000000000ULL, "5.5809931214954833e-104"},
    {0x2b90000000000000ULL, "7.31511930420656e-99"},
    {0x2ca0000000000000ULL, "9.588073174409622e-94"},
    {0x2db0000000000000ULL, "1.256727927116218e-88"},
    {0x2ec0000000000000ULL, "1.6472184286297693e-83"},
    {0x2fd0000000000000ULL, "2.1590421387736112e-78"},
    {0x30e0000000000000ULL, "2.8298997121333476e-73"},
    {0x31f0000000000000ULL, "3.7092061506874214e-68"},
    {0x3300000000000000ULL, "4.861730685829017e-63"},
    {0x3410000000000000ULL, "6.372367644529809e-58"},
    {0x3520000000000000ULL, "8.352389719038111e-53"},
    {0x3630000000000000ULL, "1.0947644252537633e-47"},
    {0x3740000000000000ULL, "1.4349296274686127e-42"},
    {0x3850000000000000ULL, "1.88079096131566e-37"},
    {0x3960000000000000ULL, "2.465190328815662e-32"},
    {0x3a70000000000000ULL, "3.2311742677852644e-27"},
    {0x3b80000000000000ULL, "4.235164736271502e-22"},
    {0x3c90000000000000ULL, "5.551115123125783e-17"},
    {0x3da0000000000000ULL, "7.275957614183426e-12"},
    {0x3eb0000000000000ULL, "9.5367431640625e-07"},
    {0x3fc0000000000000ULL, "0.125"},
    {0x40d0000000000000ULL, "16384.0"},
    {0x41e0000000000000ULL, "2147483648.0"},
    {0x42f0000000000000ULL, "281474976710656.0"},
    {0x4400000000000000ULL, "3.6893488147419103e+19"},
    {0x4510000000000000ULL, "4.835703278458517e+24"},
    {0x4620000000000000ULL, "6.338253001141147e+29"},
    {0x4730000000000000ULL, "8.307674973655724e+34"},
    {0x4840000000000000ULL, "1.0889035741470031e+40"},
    {0x4950000000000000ULL, "1.42724769270596e+45"},
    {0x4a60000000000000ULL, "1.8707220957835557e+50"},
    {0x4b70000000000000ULL, "2.4519928653854222e+55"},
    {0x4c80000000000000ULL, "3.2138760885179806e+60"},
    {0x4d90000000000000ULL, "4.2124916667422875e+65"},
    {0x4ea0000000000000ULL, "5.521397077432451e+70"},
    {0x4fb0000000000000ULL, "7.237005577332262e+75"},
    {0x50c0000000000000ULL, "9.485687950320943e+80"},
    {0x51d0000000000000ULL, "1.2433080910244666e+86"},
    {0x52e0000000000000ULL, "1.629628781067589e+91"},
    {0x53f0000000000000ULL, "2.13598703592091e+96"},
    {0x5500000000000000ULL, "2.7996809277222553e+101"},
    {0x5610000000000000ULL, "3.6695977855841144e+106"},
    {0x5720000000000000ULL, "4.8098152095208105e+111"},
    {0x5830000000000000ULL, "6.304320991423117e+116"},
    {0x5940000000000000ULL, "8.263199609878108e+121"},
    {0x5a50000000000000ULL, "1.0830740992659433e+127"},
    {0x5b60000000000000ULL, "1.4196068833898572e+132"},
    {0x5c70000000000000ULL, "1.8607071341967536e+137"},
    {0x5d80000000000000ULL, "2.438866054934369e+142"},
    {0x5e90000000000000ULL, "3.196670515523576e+147"},
    {0x5fa0000000000000ULL, "4.189939978107062e+152"},
    {0x60b0000000000000ULL, "5.491838128104488e+157"},
    {0x61c0000000000000ULL, "7.198262071269114e+162"},
    {0x62d0000000000000ULL, "9.434906062053853e+167"},
    {0x63e0000000000000ULL, "1.2366520073655227e+173"},
    {0x64f0000000000000ULL, "1.620904519094138e+178"},
    {0x6600000000000000ULL, "2.1245519712670684e+183"},
    {0x6710000000000000ULL, "2.784692759779172e+188"},
    {0x6820000000000000ULL, "3.649952494097756e+193"},
    {0x6930000000000000ULL, "4.784065733063811e+198"},
    {0x6a40000000000000ULL, "6.270570637641398e+203"},
    {0x6b50000000000000ULL, "8.218962346169334e+208"},
    {0x6c60000000000000ULL, "1.077275832637107e+214"},
    {0x6d70000000000000ULL, "1.4120069793541087e+219"},
    {0x6e80000000000000ULL, "1.8507457879790174e+224"},
    {0x6f90000000000000ULL, "2.4258095192198577e+229"},
    {0x70a0000000000000ULL, "3.179557053031852e+234"},
    {0x71b0000000000000ULL, "4.167509020549909e+239"},
    {0x72c0000000000000ULL, "5.462437423415177e+244"},
    {0x73d0000000000000ULL, "7.15972597961874e+249"},
    {0x74e0000000000000ULL, "9.384396036005875e+254"},
    {0x75f0000000000000ULL, "1.2300315572313621e+260"},
    {0x7700000000000000ULL, "1.612226962694291e+265"},
    {0x7810000000000000ULL, "2.113178124542661e+270"},
    {0x7920000000000000ULL, "2.7697848314005566e+275"},
    {0x7a30000000000000ULL, "3.6304123742133376e+280"},
    {0x7b40000000000000ULL, "4.758454107128906e+285"},
    {0x7c50000000000000ULL, "6.237000967296e+290"},
    {0x7d60000000000000ULL, "8.174961907854212e+295"},
    {0x7e70000000000000ULL, "1.0715086071862673e+301"},
    {0x7f80000000000000ULL, "1.4044477616111843e+306"},
    {0xf2a74de452e6b438ULL, "-1.989032661366619e+244"},
    {0x6513270e269e0d37ULL, "7.761117632285041e+178"},
    {0x0c5c7fd0a6a3a450ULL, "3.980498358697587e-249"},
    {0xd23f0824128b2f33ULL, "-1.5432835417340557e+88"},
    {0x1818e811892f902bULL, "1.3647584518757569e-192"},
    {0x9531985d5d9dc9f8ULL, "-1.3701135617873088e-206"},
    {0xe8e25d940ed90475ULL, "-1.7160537630466207e+197"},
    {0x36f675cc81e74ef5ULL, "6.294675241195386e-44"},
    {0x1600a35a099950d8ULL, "1.0613447212142254e-202"},
    {0x6b0d549b6f03675aULL, "4.708325160387546e+207"},
    {0x3d9c172411e20b8fULL, "6.387016158513563e-12"},
    {0x8d116ece1738f7d9ULL, "-9.973130378568733e-246"},
    {0x0f21ddb66cad4a26ULL, "8.779753225680271e-236"},
    {0x90c192cfd3ac94afULL, "-5.795503248498993e-228"},
    {0xf28c105d1fb17c23ULL, "-5.988180159386011e+243"},
    {0xa170b33839263059ULL, "-1.306052388527796e-147"},
    {0x953f48f1a09f76b5ULL, "-2.436117699484841e-206"},
    {0x0fd630f1f29d0da9ULL, "2.233386999150174e-232"},
    {0x95e60af593bd04cfULL, "-3.51527970626667e-203"},
    {0x0cb1e29c658cda14ULL, "1.5987381841032883e-247"},
    {0x3898d190f9ebdaccULL, "4.6678633181812096e-36"},
    {0x8e81973e0becd7b0ULL, "-8.441872792105456e-239"},
    {0x2217beaddbc496cbULL, "1.9015657400796622e-144"},
    {0x6b4cb2424a23d596ULL, "7.370437700706684e+208"},
    {0x8a6a63ec24ede6a4ULL, "-1.7163996725272777e-258"},
    {0x922766581e27a1c0ULL, "-3.2367190832119987e-221"},
    {0x8f6d05584ef8aa38ULL, "-2.2818334634712625e-234"},
    {0xae97ba94d0eda82fULL, "-3.0536383926309363e-84"},
    {0x1a61dbe22e44158bULL, "1.3449551894627777e-181"},
    {0x923a736994e3bf91ULL, "-7.317495976062606e-221"},
    {0x301850c5a38fd547ULL, "5.249822308814304e-77"},
    {0x18f135d25f557203ULL, "1.5450754142984396e-188"},
    {0xb64ce4228c38fb29ULL, "-3.953625698224792e-47"},
    {0x907a70c31012f037ULL, "-2.72491267476498e-229"},
    {0x9e7769b10f4205b4ULL, "-6.505141861548772e-162"},
    {0x7f15052434b9b5dfULL, "1.441484839555994e+304"},
    {0x881ed162ae2eb154ULL, "-1.4583679262758548e-269"},
    {0xc6f877186d76b07eULL, "-7.939416668807721e+33"},
    {0x7731af10506bf2efULL, "1.4255183989699612e+266"},
    {0xec66a78795e761d1ULL, "-1.525315701232403e+214"},
    {0x5c90a9587403e430ULL, "7.750545741548908e+137"},
    {0x3f98e2774cbd87adULL, "0.024301399287089676"},
    {0x2e05319acb5c7427ULL, "5.326960081783017e-87"},
    {0xc7a2ea20b2f14c94ULL, "-1.2570882301712172e+37"},
    {0x14f4733f3e7d1bfbULL, "9.952684009002448e-208"},
    {0x4cdd2055930d6eafULL, "1.8721667527122837e+62"},
    {0x7ebff20686734721ULL, "3.422978398947072e+302"},
    {0x57ee05cde00902c7ULL, "3.6967297937384553e+115"},
    {0x72e6cc3ababced20ULL, "3.113284956169447e+245"},
    {0x9be4bcfc49b64a08ULL, "-2.6202582260546103e-174"},
    {0x12bd4acefaecbd38ULL, "2.0745096302730225e-218"},
    {0x830e07bc1e398f10ULL, "-5.877500503097409e-294"},
    {0x2a3af4d46b0a18e8ULL, "2.938345597354166e-105"},
    {0x5790f82ec1d3fcffULL, "6.529598674765832e+113"},
    {0xeeeacbe226e87555ULL, "-1.9837344250050814e+226"},
    {0x6bf46c697d2caf82ULL, "1.0743030475716402e+212"},
    {0xf646e1f40a097c97ULL, "-5.629271400715247e+261"},
    {0x13deef86ab1031d0ULL, "5.743310614918485e-213"},
    {0x8ede0d7ac3baea9eULL, "-4.61515470702556e-237"},
    {0xca02135e92b1d3f2ULL, "-3.302201168194502e+48"},
    {0xd17f9acae01f5057ULL, "-3.8373366379117136e+84"},
    {0x571242425051c1ccULL, "2.7444240984593666e+111"},
    {0x59a54a7bb1fee08fULL, "7.037254769664525e+123"},
    {0x7f26144b98289fcdULL, "3.0282415270685036e+304"},
    {0xcc011cdd9474031bULL, "-1.3427313830183207e+58"},
    {0x119a72d174c9df6aULL, "7.145365052251808e-224"},
    {0x17f5e837d70820feULL, "3.0010119427191346e-193"},
    {0x451abd81f1d69ed6ULL, "8.08174890787967e+24"},
    {0xb2715945795e8229ULL, "-1.029599445714058e-65"},
    {0x10a3d6b2aa05e11aULL, "1.6356324386913733e-228"},
    {0xbb2d420f0f88080bULL, "-1.210084267904234e-23"},
    {0x4f426dcbb394fb36ULL, "6.512205859834416e+73"},
    {0x93f448b3a5aa3c81ULL, "-1.5063173670565552e-212"},
    {0xae658f33fe3b890bULL, "-3.468068334360956e-85"},
    {0x72158370d269a9a5ULL, "3.5862982565236525e+241"},
    {0xb774eb5248db40afULL, "-1.500880737539812e-41"},
    {0xe315128862c33a4fULL, "-1.9881605394901064e+169"},
    {0x58d5563dab2cd31eULL, "8.608929980762736e+119"},
    {0xf0ce583505c6af07ULL, "-2.412056419517317e+235"},
    {0x5affb2297631a992ULL, "2.1970596639628e+130"},
    {0xc084c00000000000ULL, "-664.0"},
    {0xc029333333333333ULL, "-12.6"},
    {0x4080c40000000000ULL, "536.5"},
    {0x407dcba1cac08312ULL, "476.727"},
    {0xc06b433810e88590ULL, "-218.100594"},
    {0xc01c000000000000ULL, "-7.0"},
    {0xc059680346dc5d64ULL, "-101.6252"},
    {0xc07bc4cccccccccdULL, "-444.3"},
    {0x4083f47a376922d9ULL, "638.559676"},
    {0x40591c1a60d4562eULL, "100.43911"},
    {0xc0652d1eb851eb85ULL, "-169.41"},
    {0x4076d722d0e56042ULL, "365.446"},
    {0x408c9c0000000000ULL, "915.5"},
    {0xc08a100000000000ULL, "-834.0"},
    {0xc080c0cccccccccdULL, "-536.1"},
    {0xc08e7efdb4cc2507ULL, "-975.87388"},
    {0x4066480000000000ULL, "178.25"},
    {0xc07b41999999999aULL, "-436.1"},
    {0xc06443851eb851ecULL, "-162.11"},
    {0x406b73d70a3d70a4ULL, "219.62"},
    {0x408c519119ce075fULL, "906.19585"},
    {0x4086733b2fec56d6ULL, "718.4039"},
    {0x40735eed4801f751ULL, "309.93293"},
    {0xc08be01d1c3ac92aULL, "-892.014214"},
    {0x40817f8308787486ULL, "559.938981"},
    {0x40769267381d7dbfULL, "361.1502"},
    {0xc06ae7be76c8b439ULL, "-215.242"},
    {0xc06a7851eb851eb8ULL, "-211.76"},
    {0x4070d00000000000ULL, "269.0"},
    {0xc083566666666666ULL, "-618.8"},
    {0xc05dc00000000000ULL, "-119.0"},
    {0xc074000000000000ULL, "-320.0"},
    {0xc088d9ed288ce704ULL, "-795.2408"},
    {0xc085c80000000000ULL, "-697.0"},
    {0x408c0f2e147ae148ULL, "897.8975"},
    {0xc08da7fc5e6ff7e0ULL, "-948.998227"},
    {0xc08240c28f5c28f6ULL, "-584.095"},
    {0xc085f73333333333ULL, "-702.9"},
    {0x408c777ced916873ULL, "910.936"},
    {0xc071000000000000ULL, "-272.0"},
    {0x4480f0cf064dd592ULL, "1e+22"},
    {0x44b52d02c7e14af6ULL, "1e+23"},
    {0x3eb0000000000000ULL, "9.5367431640625e-07"},
    {0x0010000000000000ULL, "2.2250738585072014e-308"},
    {0x00005033914d5594ULL, "4.35679e-310"},
    {0x3f1a36e2eb1c432dULL, "0.0001"},
    {0x3f1a36e2eb1c432cULL, "9.999999999999999e-05"},
    {0x430c6bf526340000ULL, "1000000000000000.0"},
    {0x4341c37937e07fffULL, "9999999999999998.0"},
    {0x4341c37937e07fffULL, "9999999999999998.0"},
};

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double from_bits(uint64_t bits)
{
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Significant digits of a formatted number (leading and trailing zeros not counted). */
static int sig_digits(const char *s)
{
    int digits = 0, started = 0, trailing = 0;
    for (const char *p = s; *p && *p != 'e'; p++) {
        if (*p < '0' || *p > '9') continue;
        if (*p != '0') started = 1;
        if (started) {
            digits++;
            trailing = *p == '0' ? trailing + 1 : 0;
        }
    }
    return digits - trailing;
}

static void test_format_fixed(void **state)
{
    (void)state;
    char buf[EF_JSON_DOUBLE_MAX];
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
        double v = from_bits(floats[i].bits);
        int n = ef_json_format_double(v, buf, sizeof buf);
        assert_true(n > 0);
        assert_int_equal((size_t)n, strlen(buf));
        if (strcmp(buf, floats[i].repr) != 0)
            fail_msg("bits %016llx: got %s want %s", (unsigned long long)floats[i].bits, buf,
                     floats[i].repr);
    }
    static const struct {
        double v;
        const char *repr;
    } simple[] = {
        {0.1, "0.1"},
        {1.0, "1.0"},
        {-1.0, "-1.0"},
        {0.95, "0.95"},
        {23.5, "23.5"},
        {1e-05, "1e-05"},
        {1.5e-7, "1.5e-07"},
        {0.0001, "0.0001"},
        {1e16, "1e+16"},
        {1e15, "1000000000000000.0"},
        {123456789.0, "123456789.0"},
        {0.30000000000000004, "0.30000000000000004"},
        {1e100, "1e+100"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {5e-324, "5e-324"},
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {12345.678, "12345.678"},
        {-273.15, "-273.15"},
        {9007199254740993.0, "9007199254740992.0"},
        {1e22, "1e+22"},
        {1e23, "1e+23"},
        {123e-20, "1.23e-18"},
    };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        int n = ef_json_format_double(simple[i].v, buf, sizeof buf);
        if (n < 0 || strcmp(buf, simple[i].repr) != 0)
            fail_msg("%.17g: got %s want %s", simple[i].v, n < 0 ? "error" : buf, simple[i].repr);
    }
    assert_int_equal(ef_json_format_double(NAN, buf, sizeof buf), 3);
    assert_string_equal(buf, "nan");
    assert_int_equal(ef_json_format_double(INFINITY, buf, sizeof buf), 3);
    assert_string_equal(buf, "inf");
    assert_int_equal(ef_json_format_double(-INFINITY, buf, sizeof buf), 4);
    assert_string_equal(buf, "-inf");
    /* too small: error and the buffer untouched */
    strcpy(buf, "xyz");
    assert_int_equal(ef_json_format_double(0.1, buf, 3), EF_ETOOBIG);
    assert_string_equal(buf, "xyz");
    assert_int_equal(ef_json_format_double(0.1, buf, 4), 3);
    assert_int_equal(ef_json_format_double(0.1, buf, 0), EF_ETOOBIG);
    /* the longest outputs fit EF_JSON_DOUBLE_MAX */
    assert_int_equal(ef_json_format_double(-2.2250738585072014e-308, buf, sizeof buf), 24);
    assert_int_equal(ef_json_format_double(-1.2345678901234567e-300, buf, sizeof buf), 24);
}

/* 1 if some decimal of p significant digits reads back as v: the correctly rounded one or, where
 * the rounding interval of v is lopsided (powers of two), a neighbour of it in the last place
 * (any other candidate is farther from v than one of these three). */
static int reads_back_with(double v, int p)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.*e", p - 1, fabs(v));
    long long mant = 0;
    const char *s = tmp;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9') mant = mant * 10 + (*s - '0');
    int e = atoi(s + 1) - (p - 1);
    for (int d = -1; d <= 1; d++) {
        snprintf(tmp, sizeof tmp, "%llde%d", mant + d, e);
        if (strtod(tmp, NULL) == fabs(v)) return 1;
    }
    return 0;
}

/* Checks one finite v: reads back exactly (strtod and jansson), no shorter %.*e rendering reads
 * back, the digits equal the correctly rounded ones when at most 15 are needed, the shortcut
 * agrees with the general path, and the digit count is no more than that of the shortest of
 * %.15g / %.16g / %.17g that reads back. */
static void check_double(double v)
{
    char buf[EF_JSON_DOUBLE_MAX], tmp[64];
    int n = ef_json_format_double(v, buf, sizeof buf);
    if (n <= 0 || (size_t)n != strlen(buf)) fail_msg("%a: formatting failed", v);
    if (strtod(buf, NULL) != v) fail_msg("%a: %s does not read back", v, buf);
    /* jansson reads it as the same real (not as an integer) */
    json_error_t je;
    json_t *r = json_loadb(buf, (size_t)n, JSON_DECODE_ANY, &je);
    if (!json_is_real(r) || json_real_value(r) != v)
        fail_msg("%a: jansson reads %s otherwise", v, buf);
    json_decref(r);
    if (v == 0) {
        assert_string_equal(buf, signbit(v) ? "-0.0" : "0.0");
        return;
    }
    /* the minimal digit count that reads back */
    int p = 1;
    while (p < 17 && !reads_back_with(v, p))
        p++;
    int got = sig_digits(buf);
    if (got != p) fail_msg("%a: %s has %d digits, %d suffice", v, buf, got, p);
    if (p <= 15 && fabs(v) >= 2.2250738585072014e-308) {
        /* unique: equal to the correctly rounded p-digit string */
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        char d1[40], d2[40];
        size_t a = 0, b = 0;
        for (const char *s = tmp; *s && *s != 'e'; s++)
            if (*s >= '0' && *s <= '9') d1[a++] = *s;
        for (const char *s = buf; *s && *s != 'e'; s++)
            if (*s >= '0' && *s <= '9' && (b || *s != '0')) d2[b++] = *s;
        while (a > 0 && d1[a - 1] == '0')
            a--;
        while (b > 0 && d2[b - 1] == '0')
            b--;
        if (a != b || memcmp(d1, d2, a) != 0) fail_msg("%a: %s is not %s", v, buf, tmp);
    }
    /* the brief's yardstick: never more digits than the shortest %.15g/%.16g/%.17g */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) {
            if (got > sig_digits(tmp)) fail_msg("%a: %s longer than %s", v, buf, tmp);
            break;
        }
    }
    /* shortcut == general path */
    {
        char f[40], s[40];
        int fe, se;
        int fn = json__shortest_digits(fabs(v), 1, f, &fe);
        int sn = json__shortest_digits(fabs(v), 0, s, &se);
        if (fn != sn || fe != se || strcmp(f, s) != 0)
            fail_msg("%a: shortcut %s e%d, general %s e%d", v, f, fe, s, se);
    }
}

static void test_format_random(void **state)
{
    (void)state;
    size_t checked = 0;
    /* random bit patterns: mostly 16-17 digit values over the whole exponent range */
    for (int i = 0; i < 40000; i++) {
        double v = from_bits(rng());
        if (!isfinite(v)) continue;
        check_double(v);
        checked++;
    }
    /* subnormals */
    for (int i = 0; i < 10000; i++) {
        uint64_t bits = rng() & 0x800fffffffffffffULL;
        if (i < 64) bits = (uint64_t)1 << (i % 52); /* the powers of two among them */
        check_double(from_bits(bits));
        checked++;
    }
    /* every power of two, and its neighbours (lopsided rounding intervals) */
    for (int e = -1074; e <= 1023; e++) {
        double v = ldexp(1.0, e);
        check_double(v);
        check_double(-v);
        check_double(nextafter(v, 0));
        check_double(nextafter(v, INFINITY));
        checked += 4;
    }
    /* what sensors send: few digits, decimal exponents around zero (the shortcut's domain) */
    static const double scale[] = {1,    10,   100,  1e3,  1e4,  1e5,   1e6,   1e7,  1e8,
                                   1e10, 1e12, 1e15, 1e17, 1e20, 1e-20, 1e-10, 1e-7, 1e-3};
    for (int i = 0; i < 40000; i++) {
        int64_t m = (int64_t)(rng() % 2000000000000000ULL) - 1000000000000000LL;
        m /= (int64_t)pow(10, (double)(rng() % 16)); /* 1..16 digits */
        double v = (double)m / scale[rng() % (sizeof scale / sizeof scale[0])];
        if (i % 3 == 0) v = (double)m * scale[rng() % (sizeof scale / sizeof scale[0])];
        check_double(v);
        checked++;
    }
    /* integers as doubles around 2^53 */
    for (int i = 0; i < 10000; i++) {
        check_double((double)(int64_t)(rng() >> (rng() % 64)));
        checked++;
    }
    assert_true(checked >= 100000);
}

/* Property, moved from test_csv_table.c: random bit patterns read back and one digit fewer does
 * not. */
static void test_format_roundtrip_bits(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ULL;
    char buf[32], tmp[40];
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v = from_bits(x);
        if (v != v || v - v != 0) continue;
        assert_true(ef_json_format_double(v, buf, sizeof buf) > 0);
        assert_true(strtod(buf, NULL) == v);
        int digits = sig_digits(buf);
        if (digits > 1) {
            snprintf(tmp, sizeof tmp, "%.*e", digits - 2, v);
            assert_true(strtod(tmp, NULL) != v);
        }
    }
}

/* ---- ef_json_dump --------------------------------------------------------------------------- */

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v) fail_msg("bad test JSON %s: %s", text, je.text);
    return v;
}

/* ef_json_dump(v) must be exactly want; v is consumed. */
static void expect_dump(json_t *v, const char *want)
{
    ef_buf b;
    ef_buf_init(&b);
    int rc = ef_json_dump(v, &b);
    if (rc != EF_OK) fail_msg("dump of %s: %s", want, ef_strerror(rc));
    if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
        fail_msg("got %s want %s", b.data, want);
    ef_buf_release(&b);
    json_decref(v);
}

static void test_dump_types(void **state)
{
    (void)state;
    expect_dump(json_null(), "null");
    expect_dump(json_true(), "true");
    expect_dump(json_false(), "false");
    expect_dump(json_integer(0), "0");
    expect_dump(json_integer(-42), "-42");
    expect_dump(json_integer(INT64_MAX), "9223372036854775807");
    expect_dump(json_integer(INT64_MIN), "-9223372036854775808");
    expect_dump(json_real(0.95), "0.95");
    expect_dump(json_real(1.0), "1.0");
    expect_dump(json_real(-0.0), "-0.0");
    expect_dump(json_real(1e-5), "1e-05");
    expect_dump(json_real(1e300), "1e+300");
    expect_dump(json_string(""), "\"\"");
    expect_dump(json_string("abc"), "\"abc\"");
    expect_dump(json_array(), "[]");
    expect_dump(json_object(), "{}");
    expect_dump(load("[1,2.5,\"x\",null,true,false,[],{},[[]],{\"a\":{}}]"),
                "[1,2.5,\"x\",null,true,false,[],{},[[]],{\"a\":{}}]");
    expect_dump(load("{ \"device\" : \"pi-1\", \"load\" : 0.95, \"temp\" : 41000,"
                     " \"tags\" : [ \"a\" , \"b\" ], \"ok\" : true }"),
                "{\"device\":\"pi-1\",\"load\":0.95,\"temp\":41000,\"tags\":[\"a\",\"b\"],"
                "\"ok\":true}");
    /* a non-finite real cannot be created through jansson's API but is written as null */
    json_t *r = json_real(1.5);
    assert_int_equal(json_real_set(r, NAN), -1);
    expect_dump(r, "1.5");
    /* appends to what the buffer holds */
    ef_buf b;
    ef_buf_init(&b);
    assert_int_equal(ef_buf_appends(&b, "x="), EF_OK);
    json_t *v = load("[0.1]");
    assert_int_equal(ef_json_dump(v, &b), EF_OK);
    assert_string_equal(b.data, "x=[0.1]");
    json_decref(v);
    ef_buf_release(&b);
    assert_int_equal(ef_json_dump(NULL, &b), EF_EINVAL);
    /* ef_json_dumps */
    size_t len = 99;
    v = load("{\"a\":[1,0.25]}");
    char *s = ef_json_dumps(v, &len);
    assert_non_null(s);
    assert_string_equal(s, "{\"a\":[1,0.25]}");
    assert_int_equal(len, strlen(s));
    free(s);
    s = ef_json_dumps(v, NULL);
    assert_string_equal(s, "{\"a\":[1,0.25]}");
    free(s);
    json_decref(v);
    assert_null(ef_json_dumps(NULL, &len));
}

static void test_dump_escapes(void **state)
{
    (void)state;
    /* every byte below 0x20, then the ones that need care above it */
    char in[40];
    for (int c = 0; c < 32; c++)
        in[c] = (char)c;
    memcpy(in + 32, "\"\\/\x7f", 4);
    json_t *s = json_stringn(in, 36);
    assert_non_null(s);
    expect_dump(s, "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000B"
                   "\\f\\r\\u000E\\u000F\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017"
                   "\\u0018\\u0019\\u001A\\u001B\\u001C\\u001D\\u001E\\u001F\\\"\\\\/\x7f\"");
    /* U+0000 inside text and in a key; non-ASCII UTF-8 (2, 3 and 4 bytes, U+2028) as is */
    json_t *o = json_object();
    json_object_setn_new(o, "k\0ey", 4, json_stringn("a\0b", 3));
    json_object_set_new(o, "\xc3\xa9t\xc3\xa9",
                        json_string("\xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8"));
    expect_dump(
        o, "{\"k\\u0000ey\":\"a\\u0000b\",\"\xc3\xa9t\xc3\xa9\":\"\xe2\x82\xac \xf0\x9f\x98\x80 "
           "\xe2\x80\xa8\"}");
    /* escapes at the start, the end and back to back, in a long string (buffer growth) */
    char big[5000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = i % 7 == 0 ? '\n' : i % 11 == 0 ? '\x01' : 'a' + (char)(i % 26);
    s = json_stringn(big, sizeof big);
    char *want = json_dumps(s, JSON_ENCODE_ANY | JSON_COMPACT);
    expect_dump(s, want);
    free(want);
}

static void test_dump_key_order(void **state)
{
    (void)state;
    json_t *o = json_object();
    json_object_set_new(o, "zeta", json_integer(1));
    json_object_set_new(o, "alpha", json_integer(2));
    json_object_set_new(o, "mid", json_integer(3));
    json_object_set_new(o, "alpha", json_integer(4)); /* replacing keeps the place */
    json_object_set_new(o, "beta", json_integer(5));
    json_object_del(o, "mid");
    json_object_set_new(o, "mid", json_integer(6)); /* re-added: last */
    expect_dump(o, "{\"zeta\":1,\"alpha\":4,\"beta\":5,\"mid\":6}");
    /* 1000 keys in insertion order, as jansson iterates them */
    o = json_object();
    char key[16], want[20000];
    size_t w = 0;
    want[w++] = '{';
    for (int i = 999; i >= 0; i--) {
        snprintf(key, sizeof key, "k%d", (i * 7919) % 1000);
        json_object_set_new(o, key, json_integer(i));
        w +=
            (size_t)snprintf(want + w, sizeof want - w, "%s\"%s\":%d", i == 999 ? "" : ",", key, i);
    }
    want[w++] = '}';
    want[w] = '\0';
    expect_dump(o, want);
}

static void test_dump_depth(void **state)
{
    (void)state;
    /* the parser's limit: EF_JSON_MAX_DEPTH nested containers load and dump */
    enum { D = EF_JSON_MAX_DEPTH };
    ef_buf b;
    ef_buf_init(&b);
    json_t *root = json_array(), *cur = root;
    for (int i = 1; i < D; i++) { /* root is level 1 */
        json_t *next = i % 2 ? json_object() : json_array();
        if (json_is_array(cur))
            json_array_append_new(cur, next);
        else
            json_object_set_new(cur, "k", next);
        cur = next;
    }
    json_array_append_new(json_is_array(cur) ? cur : json_object_get(cur, "k"), json_real(0.5));
    assert_int_equal(ef_json_dump(root, &b), EF_OK);
    json_t *back = json_loadb(b.data, b.len, 0, NULL);
    assert_non_null(back); /* jansson accepts what we wrote */
    assert_true(json_equal(back, root));
    json_decref(back);
    /* one level more: EF_EINVAL, and the buffer as it was */
    json_t *deeper = json_array();
    json_array_append(deeper, root);
    ef_buf_clear(&b);
    assert_int_equal(ef_buf_appends(&b, "keep"), EF_OK);
    assert_int_equal(ef_json_dump(deeper, &b), EF_EINVAL);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "keep");
    json_decref(deeper);
    json_decref(root);
    /* a cycle (jansson only refuses direct self-insertion) is caught by the depth limit */
    json_t *a = json_array(), *o = json_object();
    json_array_append(a, o);
    json_object_set(o, "a", a);
    assert_int_equal(ef_json_dump(a, &b), EF_EINVAL);
    assert_string_equal(b.data, "keep");
    json_object_clear(o); /* break the cycle to free it */
    json_decref(o);
    json_decref(a);
    ef_buf_release(&b);
}

/* Documents whose dump must equal jansson's byte for byte (no reals) or read back equal. */
static void test_dump_documents(void **state)
{
    (void)state;
    static const char *const same[] = {
        "{}",
        "[]",
        "{\"device\":\"pi-7\",\"seq\":12,\"ts\":1700000000000,\"up\":true,\"err\":null}",
        "{\"a\":{\"b\":{\"c\":[1,[2,[3,{\"d\":\"e\"}]]]}},\"f\":[]}",
        "[\"\\u0000x\",\"tab\\there\",\"q\\\"uote\",\"back\\\\slash\",\"\\u001f\",\"/\"]",
        "{\"\\u00e9\\u20ac\\ud83d\\ude00\":\"\\u2028\\u2029\",\"\":\"\"}",
        "[-9223372036854775808,9223372036854775807,0,-1]",
        "{\"dup\":1,\"dup\":2}",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        json_t *v = load(same[i]);
        char *want = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        expect_dump(v, want);
        free(want);
    }
    static const char *const reparse[] = {
        "{\"load\":0.95,\"temp\":41.5,\"mem\":[0.1,0.2,0.30000000000000004]}",
        "[1e-05,1e16,1e+300,-0.0,5e-324,1.7976931348623157e308,2.2250738585072014e-308]",
        "{\"nested\":{\"r\":[123456.789,{\"x\":-273.15}]},\"i\":1,\"s\":\"1.5\"}",
        "[0.1,1.0,100.0,1e15,1e-7,3.141592653589793,2.718281828459045]",
    };
    for (size_t i = 0; i < sizeof reparse / sizeof reparse[0]; i++) {
        json_t *v = load(reparse[i]);
        size_t len;
        char *text = ef_json_dumps(v, &len);
        assert_non_null(text);
        json_error_t je;
        json_t *back = json_loadb(text, len, 0, &je);
        if (!back || !json_equal(back, v))
            fail_msg("%s -> %s does not read back", reparse[i], text);
        /* and never longer than jansson's own text */
        char *theirs = json_dumps(v, JSON_COMPACT);
        assert_true(len <= strlen(theirs));
        free(theirs);
        json_decref(back);
        free(text);
        json_decref(v);
    }
    /* the agent's reading: what users see */
    json_t *r = json_pack("{s:s,s:f,s:f,s:I}", "device", "pi-1", "load", 0.95, "temp", 41.5, "seq",
                          (json_int_t)3);
    expect_dump(r, "{\"device\":\"pi-1\",\"load\":0.95,\"temp\":41.5,\"seq\":3}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_fixed),
        cmocka_unit_test(test_format_random),
        cmocka_unit_test(test_format_roundtrip_bits),
        cmocka_unit_test(test_dump_types),
        cmocka_unit_test(test_dump_escapes),
        cmocka_unit_test(test_dump_key_order),
        cmocka_unit_test(test_dump_depth),
        cmocka_unit_test(test_dump_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
