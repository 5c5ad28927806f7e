"""Small corpus files written to the exact schemas of the real corpora, which cannot be redistributed.

AI Hub 감성대화말뭉치 comes as two xlsx layouts, JSON, and cp949 CSV exports; the others as their
single official formats. Each writer returns the path it wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

# (감정_대분류, 감정_소분류, emotion code, three human turns)
AIHUB_ROWS = [
    (
        "분노",
        "노여워하는",
        "E10",
        ["일은 왜 해도 해도 끝이 없을까? 화가 난다.", "그냥 내가 해결하는 게 나아.", "정말 지친다."],
    ),
    ("슬픔", "실망한", "E23", ["요즘 부모님과 너무 많이 부딪혀.", "대화가 안 통해.", ""]),
    (
        "불안",
        "걱정스러운",
        "E36",
        ["면접에서 떨어질까 봐 잠이 안 와.", "벌써 세 번째야.", "이번엔 붙고 싶어."],
    ),
    ("상처", "배신당한", "E42", ["친구가 내 험담을 하고 다녔대.", "믿었던 친구라서 더 아파.", ""]),
    ("당황", "당혹스러운", "E54", ["회의 중에 갑자기 내 이름이 불렸어.", "준비를 하나도 못 했거든.", ""]),
    ("기쁨", "신이 난", "E65", ["드디어 취직했어!", "부모님도 기뻐하셔.", "오늘은 축하해야지."]),
    ("기쁨", "감사하는", "E60", ["", "사람문장1이 빈 행은 버려져야 해.", ""]),  # dropped: empty 사람문장1
]
PROFILE = {"연령": "청년", "성별": "여성", "상황키워드": "진로,취업,직장", "신체질환": "해당없음"}


def aihub_new_xlsx(path: Path, *, index_column: bool = False, copies: int = 1) -> Path:
    """Newer release: 사람문장N / 시스템문장N for N = 1..3 (some copies add an unnamed index column)."""
    rows = []
    for k, (major, minor, _, turns) in ((k, r) for k in range(copies) for r in AIHUB_ROWS):
        human = [f"{t} ({k})" if t and k else t for t in turns]
        row = {**PROFILE, "감정_대분류": major, "감정_소분류": minor}
        for n, sentence in enumerate(human, start=1):
            row[f"사람문장{n}"] = sentence
            row[f"시스템문장{n}"] = f"시스템 응답 {n}" if sentence else ""
        rows.append(row)
    pd.DataFrame(rows).to_excel(path, index=index_column)
    return path


def aihub_old_xlsx(path: Path) -> Path:
    """Older release: 번호 first, then 사람문장N / 시스템응답N for N = 1..4."""
    rows = []
    for i, (major, minor, _, human) in enumerate(AIHUB_ROWS, start=1):
        row = {"번호": i, **PROFILE, "감정_대분류": major, "감정_소분류": minor}
        for n, sentence in enumerate([*human, ""], start=1):
            row[f"사람문장{n}"] = sentence
            row[f"시스템응답{n}"] = f"시스템 응답 {n}" if sentence else ""
        rows.append(row)
    pd.DataFrame(rows).to_excel(path, index=False)
    return path


def aihub_json(path: Path) -> Path:
    """JSON release: [{"profile": {"emotion": {"type": "E1x"}}, "talk": {"content": {"HS01": ...}}}, ...]."""
    records = []
    for i, (_, _, code, human) in enumerate(AIHUB_ROWS):
        content = {}
        for n, sentence in enumerate(human, start=1):
            content[f"HS0{n}"] = sentence
            content[f"SS0{n}"] = f"시스템 응답 {n}" if sentence else ""
        records.append(
            {
                "profile": {
                    "persona-id": f"Pro_{i:05d}",
                    "persona": {
                        "persona-id": f"A02_G02_C01_{i:03d}",
                        "human": ["A02", "G02"],
                        "computer": ["C01"],
                    },
                    "emotion": {"emotion-id": f"S06_D02_{code}", "type": code, "situation": ["S06", "D02"]},
                },
                "talk": {
                    "id": {"profile-id": f"Pro_{i:05d}", "talk-id": f"Pro_{i:05d}_{i:05d}"},
                    "content": content,
                },
            }
        )
    path.write_text(json.dumps(records, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def aihub_cp949_csv(path: Path) -> Path:
    """A CSV export of the newer xlsx in cp949, as the original notebooks read it."""
    xlsx = aihub_new_xlsx(path.with_suffix(".xlsx"))
    pd.read_excel(xlsx, dtype=str).to_csv(path, index=False, encoding="cp949")
    return path


# Written for maeum in the style of the real corpora (not taken from them): the syllables, jamo runs,
# emoticons, numbers and Latin letters of movie reviews and chatbot questions, for <unk>-share checks.
REVIEW_STYLE = [
    "연기 쩐다 ㅋㅋㅋ 배우들 케미 짱!! 10점 만점에 10점 ♥",
    "스토리는 똥망인데 OST는 좋았음~ 2번 봤어요",
    "ㅠㅠ 결말에서 펑펑 울었다... 꼭 보세요",
    "시간 아까움. 돈 아까움. 뭐 이딴 걸 영화라고 ㅡㅡ",
    "CG가 어설퍼서 몰입이 안 됨;; 그래도 킬링타임용으로는 괜찮네",
    "명작은 세월이 흘러도 명작이다. 1994년작인데도 촌스럽지 않음",
    "주인공 목소리가 넘 멋있어서 깜놀 ㅎㅎ 후속편 기대합니다^^",
    "쨘 하고 나타난 반전… 소름 돋았다",
]
CHAT_STYLE = [
    "썸 타는 사람한테 먼저 연락해도 될까?",
    "헤어진 지 한 달인데 아직도 생각나",
    "퇴근하고 치킨 먹을까 피자 먹을까",
    "요즘 잠을 통 못 자겠어 ㅠㅠ",
    "짝사랑 그만하고 싶어",
    "오늘 월급날이다!!",
    "친구랑 싸웠는데 어떻게 화해하지?",
    "PC방 가서 게임이나 할까",
]


def single_turn_xlsx(path: Path, copies: int = 1) -> Path:
    """한국어 단발성 대화 데이터셋: Sentence, Emotion (7 labels)."""
    rows = [
        ("언니 동생으로 부르는게 맞는 일인가요..??", "공포"),
        ("그냥 내 느낌일뿐겠지?", "공포"),
        ("아무튼 기분 나쁜 꿈이었다", "놀람"),
        ("하 진짜 어이없네", "분노"),
        ("너무 보고 싶다", "슬픔"),
        ("내일 봐요", "중립"),
        ("너무 좋아서 웃음이 나", "행복"),
        ("정말 역겹다", "혐오"),
    ]
    pd.DataFrame(_copies(rows, copies), columns=["Sentence", "Emotion"]).to_excel(path, index=False)
    return path


def nsmc_tsv(path: Path, copies: int = 1) -> Path:
    """NSMC ratings_*.txt: id, document, label (0 = 부정, 1 = 긍정); some documents are empty."""
    rows = [
        ("6270596", "굳 ㅋ", "1"),
        ("9274899", "", "0"),
        ("8544678", '"뭐야 이 평점들은.... 나쁘진 않지만', "0"),
        ("6825595", "지루하지는 않은데 완전 막장임... 돈주고 보기에는....", "0"),
        ("10041243", "최고의 영화", "1"),
    ]
    lines = ["id\tdocument\tlabel", *("\t".join(row) for row in _copies(rows, copies, text_at=1))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def chatbotdata_csv(path: Path, copies: int = 1) -> Path:
    """ChatbotData.csv: Q, A, label (0 = 일상다반사, 1 = 이별(부정), 2 = 사랑(긍정))."""
    rows = [
        ("12시 땡!", "하루가 또 가네요.", "0"),
        ("가끔 궁금해", "그 사람도 그럴 거예요.", "1"),
        ("가끔 뭐하는지 궁금해", "그 사람도 그럴 거예요.", "1"),
        ("고백하고 후회하면 어떡하지", "후회보다는 고백이 나을 거예요.", "2"),
    ]
    pd.DataFrame(_copies(rows, copies), columns=["Q", "A", "label"]).to_csv(path, index=False)
    return path


def wellness_xlsx(path: Path, copies: int = 1) -> Path:
    """웰니스 대화 스크립트: 구분 (category path), 유저, 챗봇 (often empty)."""
    rows = [
        (
            "감정/감정조절이상",
            "제 감정이 이상해진 것 같아요.",
            "감정이 조절이 안 될 때만큼 힘들 때는 없는 거 같아요.",
        ),
        ("감정/감정조절이상", "화를 참을 수가 없어요.", ""),
        ("감정/걱정", "걱정이 너무 많아요.", "걱정이 많으시군요."),
        ("증상/불면", "잠을 못 자요.", ""),
    ]
    pd.DataFrame(_copies(rows, copies, text_at=1), columns=["구분", "유저", "챗봇"]).to_excel(
        path, index=False
    )
    return path


def wellness_bank_xlsx(path: Path) -> Path:
    """The wellness schema with a response on most rows, as the retrieval chatbot learns from it: three
    categories of 16 rows, each row with its own 챗봇 response (some with stray whitespace and emoticons),
    and a fourth category whose 챗봇 cells are all empty."""
    topics = {
        "감정/분노": ("화가 나요", "화가 많이 나셨군요"),
        "감정/우울감": ("우울해요 ㅠㅠ", "마음이 많이 무거우시겠어요"),
        "증상/불면": ("잠이 안 와요", "잠 못 드는 밤은 정말 길죠"),
    }
    rows = []
    for category, (user, reply) in topics.items():
        for i in range(16):
            spaces = "  " if i % 3 == 0 else " "
            rows.append(
                (
                    category,
                    f"{user} {i}번째 이야기",
                    f" {reply}{spaces}{i}번 ㅠㅠ\n" if i % 4 == 0 else f"{reply} {i}번",
                )
            )
    rows += [("배경/가족", f"가족 이야기를 하고 싶어요 {i}", "") for i in range(8)]
    pd.DataFrame(rows, columns=["구분", "유저", "챗봇"]).to_excel(path, index=False)
    return path


# data config name -> (writer, file suffix), for running every experiment on a fixture
HG_TODS_DIALOGUES = [
    [
        ("발라드 노래 듣고싶어.", "라파엘의 오랜시간을 틀어드릴까요?"),
        ("응 좋아", "재생할게요."),
        ("고마워", "NULL"),
    ],
    [
        ("신나는 노래 틀어줘", "댄스 음악을 틀어드릴게요."),
        ("다른 곡은?", "이 곡은 어떠세요?"),
        ("좋다", "즐겁게 들으세요."),
    ],
    [
        ("잔잔한 음악 추천해줘", "피아노 연주곡은 어떠세요?"),
        ("좋아", "재생합니다."),
        ("볼륨 낮춰줘", "볼륨을 낮췄어요."),
    ],
]


def hg_tods_json(path: Path, copies: int = 1) -> Path:
    """HG-TODS (`../shared/data/README.md`): a JSON list of dialogues; `"NULL"` is a missing reply."""
    slots = {"song title": "", "singer": "", "genre": "", "composer": ""}
    dialogues = []
    for k in range(copies):
        for n, pairs in enumerate(HG_TODS_DIALOGUES):
            turns = [
                {"turn_num": t + 1, "user_message": f"{user} ({k})" if k else user, "system_message": system,
                 "domain": "music", "user_slots": slots, "system_slots": slots}
                for t, (user, system) in enumerate(pairs)
            ]  # fmt: skip
            idx = k * len(HG_TODS_DIALOGUES) + n
            dialogues.append({"idx": idx, "dial_id": {"$oid": f"{idx:024x}"}, "user_id": "u",
                              "num_of_turns": len(pairs) + 2, "turns": turns})  # fmt: skip
    path.write_text(json.dumps(dialogues, ensure_ascii=False), encoding="utf-8")
    return path


# (split, persona, turns from usr): XPersona's Korean chats often open alike, and keep ㅋㅋ, ㅠㅠ and emoji
XPERSONA_DIALOGUES = [
    ("valid", ["나는 강아지를 키워."], ["안녕! 오늘 기분 어때?", "ㅋㅋ 진짜 좋아!! 너는?",
        "나도 좋아 ㅎㅎㅎㅎ 주말에 뭐 해?", "강아지랑 산책해 🐶", "부럽다 ㅠㅠㅠ", "같이 가자 😊"]),
    ("valid", ["나는 간호사야.", "나는 밤에 일해."], ["안녕! 오늘 기분 어때?", "그냥 그래… 일이 많아서 ㅜㅜ",
        "무슨 일 하는데?", "간호사야. 밤 근무가 힘들어.", "대단하다 👍", "고마워 ㅋㅋ"]),
    ("valid", ["나는 기타를 쳐."], ["취미가 뭐야?", "나는 기타 치는 걸 좋아해 🎸", "오 멋지다!! 어떤 노래?",
        "주로 옛날 가요 ㅎㅎ", "ㅋㅋ 진짜?? 😂", "응 진짜야 ㅋㅋㅋ"]),
    ("valid", ["나는 부산에 살아."], ["너는 어디 살아?", "부산에 살아. 바다가 가까워 🌊",
        "좋겠다~ 나는 서울이야", "서울은 복잡하지 않아?", "조금 ㅠ 그래도 재밌어", "다음에 놀러 와!"]),
    ("test", ["나는 학생이야."], ["안녕! 오늘 기분 어때?", "최고야!! 방금 시험 끝났어 🎉", "축하해 ㅊㅋㅊㅋ",
        "고마워 ㅋㅋ 이제 좀 쉬어야지"]),
    ("test", ["나는 매운 음식을 좋아해."], ["좋아하는 음식 있어?", "떡볶이!! 매운 거 좋아해 🌶️",
        "ㅋㅋ 진짜?? 😂 나는 매운 거 못 먹어", "그럼 짜장면은?", "그건 좋아 ㅎㅎ", "다음에 같이 먹자"]),
]  # fmt: skip


def xpersona_ko_jsonl(path: Path, copies: int = 1) -> Path:
    """XPersona Korean (`../shared/data/korean-text/README.md`): one `{"turns": [{"speaker", "text"}, ...],
    "persona": [...], "split": "valid"|"test"}` per line; copy k > 0 adds " (k)" to each first reply."""
    lines = []
    for k in range(copies):
        for split, persona, texts in XPERSONA_DIALOGUES:
            texts = [f"{t} ({k})" if k and i == 1 else t for i, t in enumerate(texts)]
            turns = [{"speaker": ("usr", "sys")[i % 2], "text": t} for i, t in enumerate(texts)]
            lines.append(json.dumps({"turns": turns, "persona": persona, "split": split}, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


BY_DATA_CONFIG = {
    "aihub_emotion": (aihub_new_xlsx, ".xlsx"),
    "single_turn_emotion": (single_turn_xlsx, ".xlsx"),
    "nsmc": (nsmc_tsv, ".txt"),
    "chatbotdata": (chatbotdata_csv, ".csv"),
    "wellness": (wellness_xlsx, ".xlsx"),
    "hg_tods": (hg_tods_json, ".json"),
    "xpersona_ko": (xpersona_ko_jsonl, ".jsonl"),
}


def _copies(rows: list, copies: int, text_at: int = 0) -> list:
    """`rows` repeated `copies` times; copy k > 0 adds " (k)" to its non-empty texts to keep them distinct."""
    out = []
    for k in range(copies):
        for row in rows:
            row = list(row)
            if row[text_at] and k:
                row[text_at] = f"{row[text_at]} ({k})"
            out.append(tuple(row))
    return out


KOREAN_TEXT_LINES = [
    "오늘은 날씨가 정말 좋아서 산책을 나갔어요 ㅎㅎ",
    "시험에 떨어져서 너무 속상해 ㅠㅠ",
    "ㅋㅋㅋㅋ 진짜 웃기다 😂",
    "내일 회의는 오전 열 시에 시작합니다.",
    "친구가 생일 선물로 책을 줬어 :) 고마워!",
    "아 배고파... 라면 먹을까? 🍜",
    "ㅇㅇ 알겠어 이따 봐",
    "정부는 새로운 정책을 발표했다.",
    "그 영화 결말이 너무 슬펐어요 ㅜㅜ",
    "#@이름#님, 주문하신 상품이 발송되었습니다.",
    "요즘 잠이 안 와서 걱정이야.",
    "와 대박!!! 합격했어 🎉🎉",
]


def korean_text(path: Path, lines: int = 240) -> Path:
    """Raw Korean text, one document per line: everyday sentences with emoticons, jamo runs, a
    placeholder and an empty line, numbered so that most documents differ (some repeat exactly)."""
    rows = []
    for i in range(lines):
        base = KOREAN_TEXT_LINES[i % len(KOREAN_TEXT_LINES)]
        rows.append(base if i % 7 == 0 else f"{base} ({i}번째)")
    rows.insert(5, "")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path
