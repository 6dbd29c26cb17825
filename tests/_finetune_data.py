"""Small files for the fine-tuning tests: a tiny config and easy synthetic classification data."""
import json
import random

TINY_CONFIG = {"emb_size": 32, "feedforward_size": 64, "hidden_size": 32, "hidden_act": "gelu",
               "heads_num": 2, "layers_num": 2, "dropout": 0.0}

# Filler characters (all in google_zh_vocab) and one cue character per class.
FILLER = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"
CUES = ("好", "差")


def write_config(path, **overrides):
    path.write_text(json.dumps(dict(TINY_CONFIG, **overrides)), encoding="utf-8")
    return str(path)


def easy_rows(count, seed, pair=False):
    """Label 1 texts contain the cue 好 several times, label 0 texts the cue 差."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        label = rng.randrange(2)
        chars = [rng.choice(FILLER) for _ in range(rng.randrange(4, 12))]
        for _ in range(3):
            chars.insert(rng.randrange(len(chars) + 1), CUES[1 - label])
        text = "".join(chars)
        if pair:
            rows.append((label, "".join(rng.choice(FILLER) for _ in range(5)), text))
        else:
            rows.append((label, text))
    return rows


def write_tsv(path, header, rows):
    lines = ["\t".join(header)] + ["\t".join(str(x) for x in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)
