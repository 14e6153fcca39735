/* Unit tests for src/csv/table.c: the CSV must equal what pandas 1.5.3 writes for
 * pd.DataFrame([json.loads(r) for r in rows]).to_csv(index_label="idx"), and floats must print
 * like Python's repr(). The expected strings below were produced by Debian's python3-pandas and
 * python3 (3.11) on this project's reference machine; tests/integration/test_40_export.py also
 * compares live against pandas when it is installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "csv/table.h"

typedef struct table_case {
    const char *rows[16];
    const char *csv;
} table_case;

static const table_case cases[] = {
    {{"{\"device\":\"a\",\"temp\":41000,\"load\":0.5}",
      "{\"device\":\"b\",\"temp\":42000,\"load\":1}", NULL},
     "idx,device,temp,load\n0,a,41000,0.5\n1,b,42000,1.0\n"},
    {{"{\"a\":1}", "{\"b\":2}", "{\"a\":3,\"c\":\"x\"}", NULL},
     "idx,a,b,c\n0,1.0,,\n1,,2.0,\n2,3.0,,x\n"},
    {{"{\"a\":1}", "{\"a\":null}", NULL}, "idx,a\n0,1.0\n1,\n"},
    {{"{\"a\":true}", "{\"a\":false}", NULL}, "idx,a\n0,True\n1,False\n"},
    {{"{\"a\":true}", "{}", NULL}, "idx,a\n0,True\n1,\n"},
    {{"{\"a\":true}", "{\"a\":1}", NULL}, "idx,a\n0,True\n1,1\n"},
    {{"{\"a\":1.5}", "{\"a\":\"s\"}", "{\"a\":2}", NULL}, "idx,a\n0,1.5\n1,s\n2,2\n"},
    {{"{\"f\":1e-05}", "{\"f\":1e16}", "{\"f\":0.0001}", "{\"f\":123.0}", "{\"f\":-0.0}",
      "{\"f\":0.1}", "{\"f\":1.7976931348623157e308}", "{\"f\":5e-324}",
      "{\"f\":123456789012345678}", "{\"f\":9007199254740993}", "{\"f\":0.30000000000000004}",
      "{\"f\":2.5e-7}", "{\"f\":1234567890123456.7}", NULL},
     "idx,f\n0,1e-05\n1,1e+16\n2,0.0001\n3,123.0\n4,-0.0\n5,0.1\n6,1.7976931348623157e+308\n7,5e-"
     "324\n8,1.2345678901234568e+17\n9,9007199254740992.0\n10,0.30000000000000004\n11,2.5e-07\n12,"
     "1234567890123456.8\n"},
    {{"{\"s\":\"a,b\",\"t\":\"say \\\"hi\\\"\",\"u\":\"line\\nbreak\",\"v\":\" lead\",\"w\":\"\"}",
      NULL},
     "idx,s,t,u,v,w\n0,\"a,b\",\"say \"\"hi\"\"\",\"line\nbreak\", lead,\n"},
    {{"{\"n\":{\"x\":1,\"y\":[1,2.0,\"q's\",null,true]},\"m\":[]}", "{\"n\":{}}", NULL},
     "idx,n,m\n0,\"{'x': 1, 'y': [1, 2.0, \"\"q's\"\", None, True]}\",[]\n1,{},\n"},
    {{"{\"n\":{\"k\":\"it's \\\"x\\\"\",\"t\":\"tab\\tnl\\n\\\\ \\u00e9 \\u00a0 \\u2028\"}}", NULL},
     "idx,n\n0,\"{'k': 'it\\'s \"\"x\"\"', 't': 'tab\\tnl\\n\\\\ \303\251 \\xa0 \\u2028'}\"\n"},
    {{"{\"a,b\":1,\"c\\\"d\":2}", NULL}, "idx,\"a,b\",\"c\"\"d\"\n0,1,2\n"},
    {{"{\"x\":null}", "{\"x\":null}", NULL}, "idx,x\n0,\n1,\n"},
    {{"{\"i\":-9223372036854775808}", "{\"i\":9223372036854775807}", NULL},
     "idx,i\n0,-9223372036854775808\n1,9223372036854775807\n"},
    {{"{\"a\":1,\"b\":2}", "{\"b\":3,\"a\":4}", NULL}, "idx,a,b\n0,1,2\n1,4,3\n"},
};

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

static void test_pandas_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ef_csv_table *t = ef_csv_table_new();
        assert_non_null(t);
        size_t n = 0;
        for (; cases[i].rows[n]; n++)
            assert_int_equal(ef_csv_table_add_text(t, cases[i].rows[n], strlen(cases[i].rows[n])),
                             EF_OK);
        assert_int_equal(ef_csv_table_rows(t), n);
        ef_buf out;
        ef_buf_init(&out);
        assert_int_equal(ef_csv_table_render(t, &out), EF_OK);
        if (strcmp(out.data, cases[i].csv) != 0)
            fail_msg("case %zu:\n got: %s\nwant: %s", i, out.data, cases[i].csv);
        ef_buf_release(&out);
        ef_csv_table_free(t);
    }
}

static void test_float_repr(void **state)
{
    (void)state;
    char buf[32];
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
        double v;
        memcpy(&v, &floats[i].bits, sizeof v);
        int n = ef_csv_format_float(v, buf, sizeof buf);
        assert_true(n > 0);
        assert_int_equal((size_t)n, strlen(buf));
        if (strcmp(buf, floats[i].repr) != 0)
            fail_msg("bits %016llx: got %s want %s", (unsigned long long)floats[i].bits, buf,
                     floats[i].repr);
    }
    assert_int_equal(ef_csv_format_float(0.0 / 0.0, buf, sizeof buf), 3);
    assert_string_equal(buf, "nan");
    ef_csv_format_float(-1.0 / 0.0, buf, sizeof buf);
    assert_string_equal(buf, "-inf");
    assert_int_equal(ef_csv_format_float(0.1, buf, 3), EF_ETOOBIG);
    assert_int_equal(ef_csv_format_float(0.1, buf, 4), 3);
}

/* Property: for pseudo-random bit patterns the output parses back to the same double and no
 * shorter %.*e rendering does. */
static void test_float_roundtrip_random(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ULL;
    char buf[32], tmp[40];
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (v != v || v - v != 0) continue;
        assert_true(ef_csv_format_float(v, buf, sizeof buf) > 0);
        assert_true(strtod(buf, NULL) == v);
        /* one digit fewer must not round-trip (when there is more than one digit) */
        int digits = 0, started = 0, trailing = 0;
        for (const char *p = buf; *p && *p != 'e'; p++) {
            if (*p < '0' || *p > '9') continue;
            if (*p != '0') started = 1;
            if (started) {
                digits++;
                trailing = *p == '0' ? trailing + 1 : 0;
            }
        }
        digits -= trailing;
        if (digits > 1) {
            snprintf(tmp, sizeof tmp, "%.*e", digits - 2, v);
            assert_true(strtod(tmp, NULL) != v);
        }
    }
}

static void test_errors_and_empty(void **state)
{
    (void)state;
    ef_csv_table *t = ef_csv_table_new();
    ef_buf out;
    ef_buf_init(&out);
    assert_int_equal(ef_csv_table_add_text(t, "[1,2]", 5), EF_EINVAL);
    assert_int_equal(ef_csv_table_add_text(t, "{\"a\":", 5), EF_EINVAL);
    json_t *arr = json_array();
    assert_int_equal(ef_csv_table_add(t, arr), EF_EINVAL);
    json_decref(arr);
    assert_int_equal(ef_csv_table_rows(t), 0);
    assert_int_equal(ef_csv_table_render(t, &out), EF_OK);
    assert_string_equal(out.data, "idx\n");
    ef_buf_release(&out);
    ef_csv_table_free(t);
    ef_csv_table_free(NULL);
}

/* add() takes its own reference; many columns exercise the column hash's growth. */
static void test_refs_and_many_columns(void **state)
{
    (void)state;
    ef_csv_table *t = ef_csv_table_new();
    json_t *o = json_object();
    char key[16];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "c%d", i);
        json_object_set_new(o, key, json_integer(i));
    }
    assert_int_equal(ef_csv_table_add(t, o), EF_OK);
    json_object_set_new(o, "late", json_string("x")); /* shared object: visible at render */
    json_decref(o);
    json_t *o2 = json_pack("{s:i}", "c299", 7);
    assert_int_equal(ef_csv_table_add(t, o2), EF_OK);
    json_decref(o2);
    ef_buf out;
    ef_buf_init(&out);
    assert_int_equal(ef_csv_table_render(t, &out), EF_OK);
    assert_non_null(strstr(out.data, "idx,c0,c1,c2,"));
    /* c0 is missing in row 1 -> float column; c299 present in both -> int column */
    assert_non_null(strstr(out.data, "\n0,0.0,1.0,"));
    assert_non_null(strstr(out.data, ",299\n1,,"));
    assert_non_null(strstr(out.data, ",7\n"));
    ef_buf_release(&out);
    ef_csv_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pandas_cases),           cmocka_unit_test(test_float_repr),
        cmocka_unit_test(test_float_roundtrip_random), cmocka_unit_test(test_errors_and_empty),
        cmocka_unit_test(test_refs_and_many_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
